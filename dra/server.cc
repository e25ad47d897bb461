// SPDX-License-Identifier: LGPL-2.1-or-later
// vbus-dra's gRPC servers (the only C++ of vbus): pluginregistration.Registration on the
// registration socket, k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin on the plugin socket. Requests
// become grpc-server.h structs for the C callbacks; nothing else is decided here.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "dra/v1/api.grpc.pb.h"
#include "pluginregistration/v1/api.grpc.pb.h"

#include "grpc-server.h"

namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
namespace reg = pluginregistration;

namespace {

class Registration final : public reg::Registration::Service {
public:
	Registration(const dra_grpc_config *c, const dra_grpc_ops *ops, void *userdata)
		: name_(c->driver_name), endpoint_(c->plugin_socket), ops_(ops), userdata_(userdata)
	{
	}

	grpc::Status GetInfo(grpc::ServerContext *, const reg::InfoRequest *,
			     reg::PluginInfo *info) override
	{
		info->set_type("DRAPlugin");
		info->set_name(name_);
		info->set_endpoint(endpoint_);
		info->add_supported_versions("v1.DRAPlugin");
		return grpc::Status::OK;
	}

	grpc::Status NotifyRegistrationStatus(grpc::ServerContext *,
					      const reg::RegistrationStatus *status,
					      reg::RegistrationStatusResponse *) override
	{
		if (ops_->registered)
			ops_->registered(userdata_, status->plugin_registered(),
					 status->error().c_str());
		return grpc::Status::OK;
	}

private:
	std::string name_, endpoint_;
	const dra_grpc_ops *ops_;
	void *userdata_;
};

// The claims of a request as C structs; the strings stay owned by the request.
template <class Request> std::vector<dra_claim_ref> claim_refs(const Request *req)
{
	std::vector<dra_claim_ref> refs;

	for (const auto &c : req->claims())
		refs.push_back({ c.namespace_().c_str(), c.uid().c_str(), c.name().c_str() });
	return refs;
}

void set_device(dra::Device *d, const dra_device_answer *a)
{
	for (char **r = a->requests; r && *r; r++)
		d->add_request_names(*r);
	d->set_pool_name(a->pool ? a->pool : "");
	d->set_device_name(a->device ? a->device : "");
	for (char **c = a->cdi_ids; c && *c; c++)
		d->add_cdi_device_ids(*c);
}

class Plugin final : public dra::DRAPlugin::Service {
public:
	Plugin(const dra_grpc_ops *ops, void *userdata) : ops_(ops), userdata_(userdata)
	{
	}

	grpc::Status NodePrepareResources(grpc::ServerContext *,
					  const dra::NodePrepareResourcesRequest *req,
					  dra::NodePrepareResourcesResponse *resp) override
	{
		auto refs = claim_refs(req);
		std::vector<dra_claim_answer> answers(refs.size());

		if (!refs.empty())
			ops_->prepare(userdata_, refs.data(), refs.size(), answers.data());
		for (size_t i = 0; i < refs.size(); i++) {
			dra::NodePrepareResourceResponse &r = (*resp->mutable_claims())[refs[i].uid];

			if (answers[i].error)
				r.set_error(answers[i].error);
			else
				for (size_t j = 0; j < answers[i].n_devices; j++)
					set_device(r.add_devices(), &answers[i].devices[j]);
			dra_claim_answer_done(&answers[i]);
		}
		return grpc::Status::OK;
	}

	grpc::Status NodeUnprepareResources(grpc::ServerContext *,
					    const dra::NodeUnprepareResourcesRequest *req,
					    dra::NodeUnprepareResourcesResponse *resp) override
	{
		auto refs = claim_refs(req);
		std::vector<dra_claim_answer> answers(refs.size());

		if (!refs.empty())
			ops_->unprepare(userdata_, refs.data(), refs.size(), answers.data());
		for (size_t i = 0; i < refs.size(); i++) {
			dra::NodeUnprepareResourceResponse &r =
				(*resp->mutable_claims())[refs[i].uid];

			if (answers[i].error)
				r.set_error(answers[i].error);
			dra_claim_answer_done(&answers[i]);
		}
		return grpc::Status::OK;
	}

private:
	const dra_grpc_ops *ops_;
	void *userdata_;
};

// A unix socket path gRPC can listen on: replaces a stale socket, refuses anything else.
int prepare_socket(const char *path, std::string *error)
{
	struct stat st;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)nullptr)->sun_path)) {
		*error = std::string("Socket path '") + path + "' is too long";
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error = std::string("'") + path + "' exists and is not a socket";
			return -EEXIST;
		}
		if (unlink(path) < 0) {
			int r = -errno;

			*error = std::string("Cannot remove the old socket '") + path +
				 "': " + strerror(errno);
			return r;
		}
	}
	return 0;
}

std::unique_ptr<grpc::Server> serve(const char *path, grpc::Service *service, std::string *error)
{
	grpc::ServerBuilder b;
	int port = 0;

	if (prepare_socket(path, error) < 0)
		return nullptr;
	b.AddListeningPort(std::string("unix:") + path, grpc::InsecureServerCredentials(), &port);
	b.RegisterService(service);
	auto s = b.BuildAndStart();
	if (!s || !port) {
		*error = std::string("Cannot listen on '") + path + "'";
		return nullptr;
	}
	return s;
}

} // namespace

struct dra_grpc {
	std::string reg_path, plugin_path;
	std::unique_ptr<Registration> registration;
	std::unique_ptr<Plugin> plugin;
	std::unique_ptr<grpc::Server> reg_server, plugin_server;
};

extern "C" void dra_claim_answer_done(struct dra_claim_answer *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_devices; i++) {
		struct dra_device_answer *d = &a->devices[i];

		for (char **p = d->requests; p && *p; p++)
			free(*p);
		for (char **p = d->cdi_ids; p && *p; p++)
			free(*p);
		free(d->requests);
		free(d->cdi_ids);
		free(d->pool);
		free(d->device);
	}
	free(a->devices);
	free(a->error);
	*a = {};
}

extern "C" int dra_grpc_start(const struct dra_grpc_config *config, const struct dra_grpc_ops *ops,
			      void *userdata, struct dra_grpc **ret, char **ret_error)
{
	std::unique_ptr<dra_grpc> g;
	std::string error;

	try {
		g = std::make_unique<dra_grpc>();
		g->reg_path = config->registration_socket;
		g->plugin_path = config->plugin_socket;
		g->registration = std::make_unique<Registration>(config, ops, userdata);
		g->plugin = std::make_unique<Plugin>(ops, userdata);
		// The plugin socket first: the kubelet may connect to it as soon as it registers.
		g->plugin_server = serve(config->plugin_socket, g->plugin.get(), &error);
		if (g->plugin_server)
			g->reg_server =
				serve(config->registration_socket, g->registration.get(), &error);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
	if (!g->plugin_server || !g->reg_server) {
		if (ret_error)
			*ret_error = strdup(error.c_str());
		dra_grpc_stop(g.release());
		return -EADDRNOTAVAIL;
	}
	*ret = g.release();
	return 0;
}

extern "C" void dra_grpc_stop(struct dra_grpc *g)
{
	if (!g)
		return;
	// The registration socket first, so the kubelet sees the plugin go before its endpoint.
	if (g->reg_server) {
		g->reg_server->Shutdown();
		unlink(g->reg_path.c_str());
	}
	if (g->plugin_server) {
		g->plugin_server->Shutdown();
		unlink(g->plugin_path.c_str());
	}
	delete g;
}
