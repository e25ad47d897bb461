// SPDX-License-Identifier: LGPL-2.1-or-later
/* Where the API server is and how to log in (kubeconfig or in-cluster), and REST over libcurl. */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>

#include <curl/curl.h>
#include <yaml.h>

#include "dra.h"

/* YAML node -> JSON: mappings and sequences as such, scalars as strings (we read strings and
 * "true"/"false" only). */
static struct json_object *yaml_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
	struct json_object *o = NULL;

	if (!node || depth > 32)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return json_object_new_string_len((const char *)node->data.scalar.value,
						  (int)node->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		o = json_object_new_array();
		for (yaml_node_item_t *i = node->data.sequence.items.start;
		     o && i < node->data.sequence.items.top; i++) {
			struct json_object *v =
			    yaml_to_json(doc, yaml_document_get_node(doc, *i), depth + 1);
			if (v)
				json_object_array_add(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		o = json_object_new_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     o && p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);

			if (!k || k->type != YAML_SCALAR_NODE)
				continue;
			json_object_object_add(
			    o, (const char *)k->data.scalar.value,
			    yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
		}
		return o;
	default:
		return NULL;
	}
}

static int parse_yaml(const char *text, struct json_object **ret)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct json_object *o;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	o = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

/* The member "KEY" of the entry named NAME in the list LIST of CONFIG ("clusters": [{name,
 * cluster: {...}}]). */
static struct json_object *named(struct json_object *config, const char *list, const char *name,
				 const char *key)
{
	struct json_object *a, *v;

	if (!name || !json_object_object_get_ex(config, list, &a) ||
	    !json_object_is_type(a, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (streq_ptr(dra_json_str(e, "name"), name) &&
		    json_object_object_get_ex(e, key, &v) &&
		    json_object_is_type(v, json_type_object))
			return v;
	}
	return NULL;
}

static char *path_in(const char *dir, const char *file)
{
	char *s;

	if (file[0] == '/' || !dir)
		return strdup(file);
	return asprintf(&s, "%s/%s", dir, file) < 0 ? NULL : s;
}

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

static int base64_decode(const char *in, char **ret)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	unsigned acc = 0, bits = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p;

		if (in[i] == '=' || in[i] == '\n' || in[i] == '\r' || in[i] == ' ')
			continue;
		p = strchr(tbl, in[i]);
		if (!p || !in[i]) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

int kube_config_parse(const char *text, const char *dir, struct kube *ret, char **ret_error)
{
	_cleanup_json_ struct json_object *config = NULL;
	struct json_object *context, *cluster, *user;
	const char *current, *server, *s;
	struct kube k = {};
	int r;

	r = parse_yaml(text, &config);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret_error, r, "not a kubeconfig (YAML or JSON object)");
	current = dra_json_str(config, "current-context");
	if (!current)
		return fail(ret_error, -EINVAL, "no current-context");
	context = named(config, "contexts", current, "context");
	if (!context)
		return fail(ret_error, -EINVAL, "no context '%s'", current);
	cluster = named(config, "clusters", dra_json_str(context, "cluster"), "cluster");
	if (!cluster)
		return fail(ret_error, -EINVAL, "no cluster '%s' (context '%s')",
			    dra_json_str(context, "cluster") ?: "", current);
	server = dra_json_str(cluster, "server");
	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7)))
		return fail(ret_error, -EINVAL, "cluster '%s' has no http(s) server",
			    dra_json_str(context, "cluster"));
	k.server = strdup(server);
	if (k.server) {
		size_t n = strlen(k.server);

		while (n && k.server[n - 1] == '/')
			k.server[--n] = '\0';
	}
	s = dra_json_str(cluster, "insecure-skip-tls-verify");
	k.insecure = s && streq(s, "true");
	if ((s = dra_json_str(cluster, "certificate-authority-data"))) {
		r = base64_decode(s, &k.ca_data);
		if (r < 0) {
			kube_done(&k);
			return r == -ENOMEM
				   ? r
				   : fail(ret_error, r, "certificate-authority-data is not base64");
		}
	} else if ((s = dra_json_str(cluster, "certificate-authority")))
		k.ca_file = path_in(dir, s);
	/* A context without user, or a user without token, logs in without one. */
	user = named(config, "users", dra_json_str(context, "user"), "user");
	if ((s = dra_json_str(user, "token")))
		k.token = strdup(s);
	else if ((s = dra_json_str(user, "tokenFile")))
		k.token_file = path_in(dir, s);
	if (!k.server ||
	    ((s = dra_json_str(cluster, "certificate-authority")) && !k.ca_file && !k.ca_data)) {
		kube_done(&k);
		return -ENOMEM;
	}
	*ret = k;
	return 0;
}

static int read_file(const char *path, char **ret)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	if (!f)
		return -errno;
	FILE *m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n > 4 << 20) {
			r = -EFBIG;
			break;
		}
		fwrite(chunk, 1, n, m);
	}
	if (ferror(f))
		r = -EIO;
	fclose(f);
	fclose(m);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

int kube_config_load(const char *path, struct kube *ret, char **ret_error)
{
	_cleanup_free_ char *text = NULL, *copy = strdup(path), *error = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	r = read_file(path, &text);
	if (r < 0)
		return fail(ret_error, r, "Cannot read kubeconfig '%s': %s", path, strerror(-r));
	r = kube_config_parse(text, dirname(copy), ret, &error);
	if (r < 0 && r != -ENOMEM)
		return fail(ret_error, r, "Kubeconfig '%s': %s", path, error ?: strerror(-r));
	return r;
}

int kube_config_in_cluster(const char *sa_dir, struct kube *ret, char **ret_error)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"),
		   *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube k = {};

	if (!host || !*host || !port || !*port)
		return fail(
		    ret_error, -ENOENT,
		    "Not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig");
	if (asprintf(&k.server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		     port) < 0)
		return -ENOMEM;
	if (asprintf(&k.ca_file, "%s/ca.crt", sa_dir) < 0 ||
	    asprintf(&k.token_file, "%s/token", sa_dir) < 0) {
		kube_done(&k);
		return -ENOMEM;
	}
	*ret = k;
	return 0;
}

void kube_done(struct kube *k)
{
	if (k->curl)
		curl_easy_cleanup(k->curl);
	free(k->server);
	free(k->ca_file);
	free(k->ca_data);
	free(k->token);
	free(k->token_file);
	*k = (struct kube){};
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FILE *m = userdata;

	return fwrite(ptr, size, nmemb, m);
}

int kube_request(struct kube *k, const char *method, const char *path, struct json_object *body,
		 long *ret_status, struct json_object **ret_reply, char **ret_error)
{
	_cleanup_free_ char *url = NULL, *token = NULL, *auth = NULL, *buf = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	size_t len = 0;
	long status = 0;
	CURLcode c;
	FILE *m;

	if (!k->curl) {
		k->curl = curl_easy_init();
		if (!k->curl)
			return -ENOMEM;
	}
	CURL *curl = k->curl;
	curl_easy_reset(curl);
	if (asprintf(&url, "%s%s", k->server, path) < 0)
		return -ENOMEM;
	if (k->token)
		token = strdup(k->token);
	else if (k->token_file) {
		int r = read_file(k->token_file, &token);

		if (r < 0)
			return fail(ret_error, r, "Cannot read the token '%s': %s", k->token_file,
				    strerror(-r));
		token[strcspn(token, "\r\n")] = '\0';
	}
	if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
		return -ENOMEM;
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (auth)
		headers = curl_slist_append(headers, auth);
	m = open_memstream(&buf, &len);
	if (!m || !headers) {
		if (m)
			fclose(m);
		curl_slist_free_all(headers);
		return -ENOMEM;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, m);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body)
		curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS,
				 json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	if (k->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (k->ca_data) {
		struct curl_blob blob = {
		    .data = k->ca_data, .len = strlen(k->ca_data), .flags = CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	} else if (k->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, k->ca_file);
	c = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	fclose(m);
	if (c != CURLE_OK)
		return fail(ret_error, -EHOSTUNREACH, "%s %s: %s", method, url,
			    errbuf[0] ? errbuf : curl_easy_strerror(c));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	if (ret_reply) {
		*ret_reply = buf && len ? json_tokener_parse(buf) : NULL;
	}
	return 0;
}

char *kube_status_message(long status, struct json_object *reply)
{
	const char *m = dra_json_str(reply, "message");
	char *s;

	if (m)
		return asprintf(&s, "%s (HTTP %ld)", m, status) < 0 ? NULL : s;
	return asprintf(&s, "HTTP %ld", status) < 0 ? NULL : s;
}
