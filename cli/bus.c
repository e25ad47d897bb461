// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusctl over D-Bus (org.vbus1): not written yet; vbusctl falls back to in-process. */
#include <errno.h>

#include "transport.h"

int transport_bus_open(struct transport *ret)
{
	return -EOPNOTSUPP;
}
