/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vbusctl under the name "mdevctl" (cli/mdevctl.c). */
#pragma once

/* mdevctl's command line; returns the exit status. */
int mdevctl_main(int argc, char **argv);
