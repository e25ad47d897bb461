/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libnl-3 and libnl-genl-3 through dlopen, as libnl-route already is (vf-netdev.c) and as
 * vbusctl takes libsystemd (shared/sd-bus-dl.h): a process that never opens a netlink socket
 * (a listing, any --root run) does not load them; their relocations and page faults were
 * about 7 % of an in-process `list --defined` of ten definitions.
 *
 * netlink.h includes this after libnl's headers, so the libnl calls of lib/ go through
 * sym_<name>. vbus_nl_dlopen() fills the pointers; netlink.c calls it before it opens a socket,
 * which every libnl call of lib/ follows (a request is built on an open socket, a reply is
 * parsed after a call). Code that builds or parses netlink messages without a socket (the
 * fuzz targets) calls it first.
 */
#pragma once

#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/addr.h>
#include <netlink/object.h>

struct vbus_ctx;

#define VBUS_NL_CORE_SYMS(X)                                                                       \
	X(nl_addr_build)                                                                           \
	X(nl_addr_get_binary_addr)                                                                 \
	X(nl_addr_get_len)                                                                         \
	X(nl_addr_put)                                                                             \
	X(nl_cb_alloc)                                                                             \
	X(nl_cb_err)                                                                               \
	X(nl_cb_put)                                                                               \
	X(nl_cb_set)                                                                               \
	X(nl_connect)                                                                              \
	X(nl_geterror)                                                                             \
	X(nl_msg_parse)                                                                            \
	X(nl_object_get)                                                                           \
	X(nl_recvmsgs)                                                                             \
	X(nl_send_auto)                                                                            \
	X(nl_socket_add_membership)                                                                \
	X(nl_socket_alloc)                                                                         \
	X(nl_socket_disable_seq_check)                                                             \
	X(nl_socket_free)                                                                          \
	X(nl_socket_get_fd)                                                                        \
	X(nl_socket_set_msg_buf_size)                                                             \
	X(nl_socket_set_nonblocking)                                                               \
	X(nla_data)                                                                                \
	X(nla_get_string)                                                                          \
	X(nla_get_u16)                                                                             \
	X(nla_get_u32)                                                                             \
	X(nla_get_u64)                                                                             \
	X(nla_get_u8)                                                                              \
	X(nla_len)                                                                                 \
	X(nla_nest_end)                                                                            \
	X(nla_nest_start)                                                                          \
	X(nla_next)                                                                                \
	X(nla_ok)                                                                                  \
	X(nla_parse)                                                                               \
	X(nla_parse_nested)                                                                        \
	X(nla_put)                                                                                 \
	X(nla_put_flag)                                                                            \
	X(nla_put_string)                                                                          \
	X(nla_put_u16)                                                                             \
	X(nla_put_u32)                                                                             \
	X(nla_put_u8)                                                                              \
	X(nla_type)                                                                                \
	X(nlmsg_alloc)                                                                             \
	X(nlmsg_alloc_simple)                                                                      \
	X(nlmsg_append)                                                                            \
	X(nlmsg_data)                                                                              \
	X(nlmsg_free)                                                                              \
	X(nlmsg_hdr)                                                                               \
	X(nlmsg_parse)

#define VBUS_NL_GENL_SYMS(X)                                                                       \
	X(genl_connect)                                                                            \
	X(genl_ctrl_resolve)                                                                       \
	X(genl_ctrl_resolve_grp)                                                                   \
	X(genlmsg_attrdata)                                                                        \
	X(genlmsg_attrlen)                                                                         \
	X(genlmsg_parse)                                                                           \
	X(genlmsg_put)

#define VBUS_NL_DECLARE(f) extern typeof(f) *sym_##f;
VBUS_NL_CORE_SYMS(VBUS_NL_DECLARE)
VBUS_NL_GENL_SYMS(VBUS_NL_DECLARE)
#undef VBUS_NL_DECLARE

/* 0 once the pointers are set (idempotent); -EOPNOTSUPP, recorded with vbus_error() in CTX,
 * when a library or a symbol is missing. */
int vbus_nl_dlopen(struct vbus_ctx *ctx);

#ifndef VBUS_NL_DL_NO_REDIRECT
#define genl_connect sym_genl_connect
#define genl_ctrl_resolve sym_genl_ctrl_resolve
#define genl_ctrl_resolve_grp sym_genl_ctrl_resolve_grp
#define genlmsg_attrdata sym_genlmsg_attrdata
#define genlmsg_attrlen sym_genlmsg_attrlen
#define genlmsg_parse sym_genlmsg_parse
#define genlmsg_put sym_genlmsg_put
#define nl_addr_build sym_nl_addr_build
#define nl_addr_get_binary_addr sym_nl_addr_get_binary_addr
#define nl_addr_get_len sym_nl_addr_get_len
#define nl_addr_put sym_nl_addr_put
#define nl_cb_alloc sym_nl_cb_alloc
#define nl_cb_err sym_nl_cb_err
#define nl_cb_put sym_nl_cb_put
#define nl_cb_set sym_nl_cb_set
#define nl_connect sym_nl_connect
#define nl_geterror sym_nl_geterror
#define nl_msg_parse sym_nl_msg_parse
#define nl_object_get sym_nl_object_get
#define nl_recvmsgs sym_nl_recvmsgs
#define nl_send_auto sym_nl_send_auto
#define nl_socket_add_membership sym_nl_socket_add_membership
#define nl_socket_alloc sym_nl_socket_alloc
#define nl_socket_disable_seq_check sym_nl_socket_disable_seq_check
#define nl_socket_free sym_nl_socket_free
#define nl_socket_get_fd sym_nl_socket_get_fd
#define nl_socket_set_msg_buf_size sym_nl_socket_set_msg_buf_size
#define nl_socket_set_nonblocking sym_nl_socket_set_nonblocking
#define nla_data sym_nla_data
#define nla_get_string sym_nla_get_string
#define nla_get_u16 sym_nla_get_u16
#define nla_get_u32 sym_nla_get_u32
#define nla_get_u64 sym_nla_get_u64
#define nla_get_u8 sym_nla_get_u8
#define nla_len sym_nla_len
#define nla_nest_end sym_nla_nest_end
#define nla_nest_start sym_nla_nest_start
#define nla_next sym_nla_next
#define nla_ok sym_nla_ok
#define nla_parse sym_nla_parse
#define nla_parse_nested sym_nla_parse_nested
#define nla_put sym_nla_put
#define nla_put_flag sym_nla_put_flag
#define nla_put_string sym_nla_put_string
#define nla_put_u16 sym_nla_put_u16
#define nla_put_u32 sym_nla_put_u32
#define nla_put_u8 sym_nla_put_u8
#define nla_type sym_nla_type
#define nlmsg_alloc sym_nlmsg_alloc
#define nlmsg_alloc_simple sym_nlmsg_alloc_simple
#define nlmsg_append sym_nlmsg_append
#define nlmsg_data sym_nlmsg_data
#define nlmsg_free sym_nlmsg_free
#define nlmsg_hdr sym_nlmsg_hdr
#define nlmsg_parse sym_nlmsg_parse
#endif
