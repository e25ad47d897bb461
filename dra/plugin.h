/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vbus-dra's state, shared by main.c (loop, publishing) and prepare.c (claims). */
#pragma once

#include <pthread.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "dra.h"
#include "grpc-server.h"

struct job;

struct dra {
	sd_event *event;
	sd_bus *bus;
	/* options */
	char *node, *driver, *plugin_dir, *registry_dir, *state_dir, *kubeconfig, *bus_address;
	uint64_t interval_usec;
	bool partitionable;
	char *cdi_root; /* NULL: /var/run/cdi below vbusd's root */
	char *checkpoint_path;

	struct kube kube;
	struct dra_grpc *grpc;
	struct json_object *checkpoint;

	/* vbusd: owns org.vbus1 (it takes the name after its boot reconcile) */
	bool vbusd_up;
	char *root;

	/* publishing */
	bool generation_known, published_once, ready;
	int64_t generation;
	char *published; /* the devices last published, as JSON text */
	struct json_object *written; /* slice name -> resourceVersion of our last write of it */
	struct json_object *owner;
	struct json_object *potential; /* --partitionable: device name -> {kind, parent, type} */
	bool owner_tried;
	sd_event_source *publish_source, *resync_source;

	/* gRPC threads hand their calls to the loop */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd;
	sd_event_source *efd_source;
	struct job *jobs;
	bool stopping;
};

void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
#define log_error(...) log_msg(3, __VA_ARGS__)
#define log_warning(...) log_msg(4, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)

/* vbusd over org.vbus1 (main.c) */
int vbusd_list(struct dra *d, const char *name, struct json_object **ret, char **ret_error);
/* Manager.METHOD(NAME[, ARG]); -EALREADY for org.vbus1.Error.AlreadyInState. */
int vbusd_call(struct dra *d, const char *method, const char *name, const char *arg,
	       char **ret_error);
/* Manager.Create(DEFINITION, "", FLAGS) */
int vbusd_create(struct dra *d, struct json_object *definition, unsigned flags, char **ret_error);
/* ListTypes("") as a JSON array of {parent, kind, type, available_instances} */
int vbusd_list_types(struct dra *d, struct json_object **ret, char **ret_error);
/* ListParents("") in the same form: {parent, kind} */
int vbusd_list_parents(struct dra *d, struct json_object **ret, char **ret_error);
void schedule_publish(struct dra *d, uint64_t delay_usec);

/* prepare.c, on the loop */
void claims_prepare(struct dra *d, const struct dra_claim_ref *claims, size_t n,
		    struct dra_claim_answer *answers);
void claims_unprepare(struct dra *d, const struct dra_claim_ref *claims, size_t n,
		      struct dra_claim_answer *answers);
