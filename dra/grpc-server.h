/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boundary between vbus-dra's C code and its one C++ unit (server.cc): the kubelet's two
 * gRPC services on unix sockets. The C++ side turns requests into these plain structs, calls
 * the C callbacks (from gRPC's threads: the callee hands the work to its own loop) and turns
 * the answers back into protobuf messages.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A claim as the kubelet names it (NodePrepare/NodeUnprepare requests). */
struct dra_claim_ref {
	const char *ns, *uid, *name;
};

/* One prepared device of a claim (the fields of dra.v1.Device). Owned by the answer. */
struct dra_device_answer {
	char **requests; /* NULL-terminated, may be NULL */
	char *pool, *device;
	char **cdi_ids; /* NULL-terminated, may be NULL */
};

/* The answer for one claim: an error (non-NULL: failed) or its devices. */
struct dra_claim_answer {
	char *error;
	struct dra_device_answer *devices;
	size_t n_devices;
};

void dra_claim_answer_done(struct dra_claim_answer *a);

struct dra_grpc_ops {
	/* Fill ANSWERS[i] (zeroed, N of them) for CLAIMS[i]; called from a gRPC thread. */
	void (*prepare)(void *userdata, const struct dra_claim_ref *claims, size_t n,
			struct dra_claim_answer *answers);
	void (*unprepare)(void *userdata, const struct dra_claim_ref *claims, size_t n,
			  struct dra_claim_answer *answers);
	/* The kubelet's NotifyRegistrationStatus. */
	void (*registered)(void *userdata, bool ok, const char *error);
};

struct dra_grpc_config {
	const char *driver_name;
	const char *registration_socket; /* Registration service */
	const char *plugin_socket;	 /* DRAPlugin service, also the endpoint GetInfo names */
};

struct dra_grpc;

/* Listens on both sockets (a stale socket file is replaced). On failure returns a negative
 * errno and, when RET_ERROR is not NULL, a message naming the socket and the cause. */
int dra_grpc_start(const struct dra_grpc_config *config, const struct dra_grpc_ops *ops,
		   void *userdata, struct dra_grpc **ret, char **ret_error);
/* Stops serving (waits for calls in flight), removes the socket files, frees. NULL is fine. */
void dra_grpc_stop(struct dra_grpc *g);

#ifdef __cplusplus
}
#endif
