// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbus-dra's kubeconfig reading: current context, cluster, CA (file or data), user token. */
#include "dra.h"
#include "test.h"

static const char *config_yaml = "apiVersion: v1\n"
				 "kind: Config\n"
				 "current-context: dev\n"
				 "clusters:\n"
				 "- name: other\n"
				 "  cluster:\n"
				 "    server: https://10.0.0.9:6443\n"
				 "- name: kind\n"
				 "  cluster:\n"
				 "    server: https://127.0.0.1:6443/\n"
				 "    certificate-authority: pki/ca.crt\n"
				 "contexts:\n"
				 "- name: prod\n"
				 "  context: {cluster: other, user: admin}\n"
				 "- name: dev\n"
				 "  context:\n"
				 "    cluster: kind\n"
				 "    user: dra\n"
				 "users:\n"
				 "- name: admin\n"
				 "  user:\n"
				 "    token: wrong\n"
				 "- name: dra\n"
				 "  user:\n"
				 "    tokenFile: /var/run/token\n";

TEST(yaml_current_context)
{
	struct kube k = {};
	_cleanup_free_ char *error = NULL;

	check_int(kube_config_parse(config_yaml, "/etc/kube", &k, &error), 0);
	check_str(k.server, "https://127.0.0.1:6443");
	check_str(k.ca_file, "/etc/kube/pki/ca.crt");
	check(k.ca_data == NULL);
	check(k.token == NULL);
	check_str(k.token_file, "/var/run/token");
	check(!k.insecure);
	kube_done(&k);
}

TEST(json_ca_data_token)
{
	/* base64 of "-----BEGIN CERTIFICATE-----\n" */
	const char *json =
	    "{\"current-context\": \"c\", "
	    "\"clusters\": [{\"name\": \"k\", \"cluster\": {\"server\": \"http://localhost:8080\", "
	    "\"certificate-authority-data\": \"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\"}}], "
	    "\"contexts\": [{\"name\": \"c\", \"context\": {\"cluster\": \"k\", \"user\": "
	    "\"u\"}}], "
	    "\"users\": [{\"name\": \"u\", \"user\": {\"token\": \"abc.def\"}}]}";
	struct kube k = {};
	_cleanup_free_ char *error = NULL;

	check_int(kube_config_parse(json, NULL, &k, &error), 0);
	check_str(k.server, "http://localhost:8080");
	check_str(k.ca_data, "-----BEGIN CERTIFICATE-----\n");
	check_str(k.token, "abc.def");
	kube_done(&k);
}

TEST(insecure)
{
	const char *y = "current-context: c\n"
			"clusters: [{name: k, cluster: {server: 'https://h:1', "
			"insecure-skip-tls-verify: true}}]\n"
			"contexts: [{name: c, context: {cluster: k}}]\n";
	struct kube k = {};
	_cleanup_free_ char *error = NULL;

	check_int(kube_config_parse(y, NULL, &k, &error), 0);
	check(k.insecure);
	check(k.token == NULL && k.token_file == NULL);
	kube_done(&k);
}

static void refused(const char *text, const char *why)
{
	struct kube k = {};
	_cleanup_free_ char *error = NULL;

	check(kube_config_parse(text, NULL, &k, &error) < 0);
	check(error && strstr(error, why));
	if (error && !strstr(error, why))
		printf("# error: %s\n", error);
	check(k.server == NULL);
}

TEST(refusals)
{
	refused("- a list\n", "not a kubeconfig");
	refused("clusters: []\n", "no current-context");
	refused("current-context: x\ncontexts: []\n", "no context 'x'");
	refused("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n",
		"no cluster 'k'");
	refused("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		"clusters: [{name: k, cluster: {server: 'ftp://h'}}]\n",
		"no http(s) server");
	refused("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		"clusters: [{name: k, cluster: {server: 'https://h', certificate-authority-data: "
		"'!!'}}]\n",
		"not base64");
	refused("key: [unclosed\n", "not a kubeconfig");
}

TEST(load_file)
{
	char dir[] = "/tmp/test-dra-kubeconfig.XXXXXX";
	_cleanup_free_ char *path = NULL, *error = NULL;
	struct kube k = {};

	check(mkdtemp(dir) != NULL);
	check(asprintf(&path, "%s/config", dir) > 0);
	FILE *f = fopen(path, "we");
	check(f != NULL);
	if (f) {
		fputs(config_yaml, f);
		fclose(f);
	}
	check_int(kube_config_load(path, &k, &error), 0);
	/* relative file names are relative to the kubeconfig's directory */
	check(k.ca_file && strncmp(k.ca_file, dir, strlen(dir)) == 0);
	kube_done(&k);
	free(error);
	error = NULL;
	check(kube_config_load("/nonexistent/kubeconfig", &k, &error) < 0);
	check(error && strstr(error, "/nonexistent/kubeconfig"));
	test_sh("rm -rf %s", dir);
}

TEST(in_cluster)
{
	struct kube k = {};
	_cleanup_free_ char *error = NULL;

	unsetenv("KUBERNETES_SERVICE_HOST");
	check(kube_config_in_cluster("/sa", &k, &error) < 0);
	check(error && strstr(error, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	check_int(kube_config_in_cluster("/sa", &k, &error), 0);
	check_str(k.server, "https://[fd00::1]:443");
	check_str(k.ca_file, "/sa/ca.crt");
	check_str(k.token_file, "/sa/token");
	kube_done(&k);
}

TEST_MAIN()
