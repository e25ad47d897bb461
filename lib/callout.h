/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mdevctl's callout and notifier scripts (lib/callout.c). */
#pragma once

#include "vbus-private.h"

/* The callout script that took a change at its "pre" step, for its "post" step. */
struct vbus_callout {
	char *script;
};

void vbus_callout_done(struct vbus_callout *c);

/*
 * Before ACTION ("define", "undefine", "modify", "start", "stop") on an mdev DEF: asks the
 * callouts. 0 to go on (C remembers the script that answered), -EPERM with the cause when a
 * script vetoed. Other kinds: 0, nothing run.
 */
int vbus_callout_pre(struct vbus_ctx *ctx, const struct vbus_def *def, const char *action,
		     struct vbus_callout *c);
/* After ACTION: the "post" step of C's script with RESULT's state, then every notifier. */
void vbus_callout_post(struct vbus_ctx *ctx, const struct vbus_def *def, const char *action,
		       struct vbus_callout *c, int result);
/* Changes the running mdev DEF in place through the callout that supports live changes;
 * -EOPNOTSUPP with the cause when none does. */
int vbus_callout_live(struct vbus_ctx *ctx, const struct vbus_def *def);
