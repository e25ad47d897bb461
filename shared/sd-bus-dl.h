/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sd-bus through dlopen (systemd's dlopen-on-the-path-that-needs-it idea): libsystemd.so.0
 * and the six libraries it links (gcrypt, lzma, zstd, lz4, gpg-error, cap) cost a vbusctl
 * process about 0.9 M instructions of symbol lookup and 70 page faults at start, more than a
 * whole in-process listing of a few definitions. vbusctl and the code of shared/ call sd-bus
 * through the pointers below, so a process loads libsystemd only when it opens a bus.
 *
 * Include this header instead of <systemd/sd-bus.h> in every file that calls sd_bus_* and is
 * linked into vbusctl: the names below become calls through sym_<name>. dlopen_sd_bus() fills
 * them; call it before the first sd-bus call (vbusctl: when opening the bus; vbusd, which
 * links libsystemd anyway, once at start).
 */
#pragma once

#include <systemd/sd-bus.h>

#define SD_BUS_DL_SYMS(X)                                                                          \
	X(sd_bus_add_filter)                                                                       \
	X(sd_bus_add_match)                                                                        \
	X(sd_bus_call)                                                                             \
	X(sd_bus_call_async)                                                                       \
	X(sd_bus_call_method)                                                                      \
	X(sd_bus_close)                                                                            \
	X(sd_bus_error_add_map)                                                                    \
	X(sd_bus_error_free)                                                                       \
	X(sd_bus_error_get_errno)                                                                  \
	X(sd_bus_error_has_name)                                                                   \
	X(sd_bus_error_is_set)                                                                     \
	X(sd_bus_error_set)                                                                        \
	X(sd_bus_flush_close_unref)                                                                \
	X(sd_bus_get_property)                                                                     \
	X(sd_bus_get_property_string)                                                              \
	X(sd_bus_match_signal)                                                                     \
	X(sd_bus_message_append)                                                                   \
	X(sd_bus_message_append_basic)                                                             \
	X(sd_bus_message_appendv)                                                                  \
	X(sd_bus_message_close_container)                                                          \
	X(sd_bus_message_enter_container)                                                          \
	X(sd_bus_message_exit_container)                                                           \
	X(sd_bus_message_get_bus)                                                                  \
	X(sd_bus_message_get_error)                                                                \
	X(sd_bus_message_get_member)                                                               \
	X(sd_bus_message_is_method_error)                                                          \
	X(sd_bus_message_is_signal)                                                                \
	X(sd_bus_message_new_method_call)                                                          \
	X(sd_bus_message_open_container)                                                           \
	X(sd_bus_message_peek_type)                                                                \
	X(sd_bus_message_read)                                                                     \
	X(sd_bus_message_read_basic)                                                               \
	X(sd_bus_message_read_strv)                                                                \
	X(sd_bus_message_ref)                                                                      \
	X(sd_bus_message_rewind)                                                                   \
	X(sd_bus_message_set_allow_interactive_authorization)                                      \
	X(sd_bus_message_skip)                                                                     \
	X(sd_bus_message_unref)                                                                    \
	X(sd_bus_open_system)                                                                      \
	X(sd_bus_process)                                                                          \
	X(sd_bus_slot_unref)                                                                       \
	X(sd_bus_wait)

#define SD_BUS_DL_DECLARE(f) extern typeof(f) *sym_##f;
SD_BUS_DL_SYMS(SD_BUS_DL_DECLARE)
#undef SD_BUS_DL_DECLARE

/* 0 once the pointers are set (idempotent); -EOPNOTSUPP when libsystemd.so.0 or one of the
 * symbols is missing (the bus is then unreachable, as if vbusd were not running). */
int dlopen_sd_bus(void);

#ifndef SD_BUS_DL_NO_REDIRECT
#define sd_bus_add_filter sym_sd_bus_add_filter
#define sd_bus_add_match sym_sd_bus_add_match
#define sd_bus_call sym_sd_bus_call
#define sd_bus_call_async sym_sd_bus_call_async
#define sd_bus_call_method sym_sd_bus_call_method
#define sd_bus_close sym_sd_bus_close
#define sd_bus_error_add_map sym_sd_bus_error_add_map
#define sd_bus_error_free sym_sd_bus_error_free
#define sd_bus_error_get_errno sym_sd_bus_error_get_errno
#define sd_bus_error_has_name sym_sd_bus_error_has_name
#define sd_bus_error_is_set sym_sd_bus_error_is_set
#define sd_bus_error_set sym_sd_bus_error_set
#define sd_bus_flush_close_unref sym_sd_bus_flush_close_unref
#define sd_bus_get_property sym_sd_bus_get_property
#define sd_bus_get_property_string sym_sd_bus_get_property_string
#define sd_bus_match_signal sym_sd_bus_match_signal
#define sd_bus_message_append sym_sd_bus_message_append
#define sd_bus_message_append_basic sym_sd_bus_message_append_basic
#define sd_bus_message_appendv sym_sd_bus_message_appendv
#define sd_bus_message_close_container sym_sd_bus_message_close_container
#define sd_bus_message_enter_container sym_sd_bus_message_enter_container
#define sd_bus_message_exit_container sym_sd_bus_message_exit_container
#define sd_bus_message_get_bus sym_sd_bus_message_get_bus
#define sd_bus_message_get_error sym_sd_bus_message_get_error
#define sd_bus_message_get_member sym_sd_bus_message_get_member
#define sd_bus_message_is_method_error sym_sd_bus_message_is_method_error
#define sd_bus_message_is_signal sym_sd_bus_message_is_signal
#define sd_bus_message_new_method_call sym_sd_bus_message_new_method_call
#define sd_bus_message_open_container sym_sd_bus_message_open_container
#define sd_bus_message_peek_type sym_sd_bus_message_peek_type
#define sd_bus_message_read sym_sd_bus_message_read
#define sd_bus_message_read_basic sym_sd_bus_message_read_basic
#define sd_bus_message_read_strv sym_sd_bus_message_read_strv
#define sd_bus_message_ref sym_sd_bus_message_ref
#define sd_bus_message_rewind sym_sd_bus_message_rewind
#define sd_bus_message_set_allow_interactive_authorization                                         \
	sym_sd_bus_message_set_allow_interactive_authorization
#define sd_bus_message_skip sym_sd_bus_message_skip
#define sd_bus_message_unref sym_sd_bus_message_unref
#define sd_bus_open_system sym_sd_bus_open_system
#define sd_bus_process sym_sd_bus_process
#define sd_bus_slot_unref sym_sd_bus_slot_unref
#define sd_bus_wait sym_sd_bus_wait
#endif
