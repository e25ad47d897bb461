#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the stand-ins themselves (TAP): the API server refuses what the real one refuses
and keeps what it accepts; the kubelet's proto check catches a wrong field number; the
kubelet registers and calls a plugin as kubelet does (against a plugin written here).

Usage: standins.py PROTO_DIR   (the repository's dra/proto)
"""
import concurrent.futures
import copy
import glob
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver  # noqa: E402
import kubelet  # noqa: E402
import tap  # noqa: E402

PROTO_DIR = os.path.abspath(sys.argv[1])
work = tempfile.mkdtemp(prefix="vbus-dra-standins.")
t = tap.Tap()


def request(srv, method, path, body=None, token=True, ca=True):
    ctx = ssl.create_default_context(cafile=srv.ca if ca else None)
    req = urllib.request.Request(srv.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", f"Bearer {srv.token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def good_slice(name="node1-vbus-dev-0", gen=1, count=1, devices=None):
    return {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {"driver": "vbus.dev", "nodeName": "node1",
                 "pool": {"name": "node1", "generation": gen, "resourceSliceCount": count},
                 "devices": devices if devices is not None else [
                     {"name": "gpu-desktop", "attributes": {
                         "kind": {"string": "mdev"},
                         "mdevUUID": {"string": "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10"},
                         "numaNode": {"int": 0},
                         "resource.kubernetes.io/pciBusID": {"string": "0000:00:02.0"},
                         "ok": {"bool": True},
                         "v": {"version": "1.2.3-rc.1+b5"}},
                      "capacity": {"mem": {"value": "1Gi"}}}]},
    }


# ---- API server ------------------------------------------------------------------------------
srv = apiserver.ApiServer(work).start()
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/resourceslices", token=False)
t.check(code == 401 and body.get("reason") == "Unauthorized" and len(srv.unauthorized) == 1,
        "a request without the bearer token gets 401 Unauthorized and is counted",
        [f"{code} {body}", f"{srv.unauthorized}"])
try:
    request(srv, "GET", "/apis/resource.k8s.io/v1/resourceslices", ca=False)
    t.not_ok("the server's certificate is refused without the test CA")
except urllib.error.URLError as e:
    t.check("CERTIFICATE_VERIFY_FAILED" in str(e),
            "the server's certificate is refused without the test CA", [str(e)])
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/resourceslices")
t.check(code == 200 and body["kind"] == "ResourceSliceList" and body["items"] == [],
        "with the token and the CA: an empty ResourceSliceList", [f"{code} {body}"])

code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", good_slice())
t.check(code == 201 and body["metadata"].get("resourceVersion") and
        "node1-vbus-dev-0" in srv.slices and not srv.violations,
        "a valid slice is created (201, resourceVersion set)", [f"{code} {body}",
                                                                 f"{srv.violations}"])
rv = body["metadata"]["resourceVersion"]


def dev(name="d", **attrs):
    return {"name": name, "attributes": attrs}


def many(n):
    return [dev(f"d{i}") for i in range(n)]


BAD = [
    ("device name in upper case", dict(devices=[dev("GPU")])),
    ("device name with ':'", dict(devices=[dev("nic:04")])),
    ("device name ending in '-'", dict(devices=[dev("nic-")])),
    ("device name of 64 characters", dict(devices=[dev("a" * 64)])),
    ("129 devices", dict(devices=many(129))),
    ("two devices of one name", dict(devices=[dev("a"), dev("a")])),
    ("33 attributes", dict(devices=[dev("a", **{f"a{i}": {"int": i} for i in range(33)})])),
    ("32 attributes + 1 capacity", dict(devices=[{
        "name": "a", "attributes": {f"a{i}": {"int": i} for i in range(32)},
        "capacity": {"c": {"value": "1"}}}])),
    ("attribute id of 33 characters", dict(devices=[dev("a", **{"x" * 33: {"int": 1}})])),
    ("attribute id not a C identifier", dict(devices=[dev("a", **{"pci-bus": {"int": 1}})])),
    ("attribute domain not a DNS subdomain",
     dict(devices=[dev("a", **{"Vbus_Dev/x": {"int": 1}})])),
    ("attribute domain of 64 characters",
     dict(devices=[dev("a", **{("a" * 60 + ".com") + "/x": {"int": 1}})])),
    ("attribute with two values", dict(devices=[dev("a", x={"int": 1, "string": "1"})])),
    ("attribute with no value", dict(devices=[dev("a", x={})])),
    ("string value of 65 characters", dict(devices=[dev("a", x={"string": "s" * 65})])),
    ("int value given as a string", dict(devices=[dev("a", x={"int": "1"})])),
    ("version value not semver", dict(devices=[dev("a", x={"version": "1.2"})])),
    ("unqualified and driver-qualified name twice",
     dict(devices=[dev("a", x={"int": 1}, **{"vbus.dev/x": {"int": 2}})])),
    ("a v1beta1 'basic' wrapper", dict(devices=[{"name": "a", "basic": {"attributes": {}}}])),
]
for what, kw in BAD:
    s = good_slice(name="bad", devices=kw["devices"])
    n = len(srv.violations)
    code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", s)
    t.check(code == 422 and body.get("reason") == "Invalid" and "bad" not in srv.slices and
            len(srv.violations) == n + 1, f"refused with 422 Invalid: {what}",
            [f"{code} {json.dumps(body)[:300]}"])

for what, mutate in [
        ("resourceSliceCount 0", lambda s: s["spec"]["pool"].update(resourceSliceCount=0)),
        ("negative generation", lambda s: s["spec"]["pool"].update(generation=-1)),
        ("no nodeName (no node selection at all)", lambda s: s["spec"].pop("nodeName")),
        ("driver not a DNS subdomain", lambda s: s["spec"].update(driver="Vbus_dev")),
        ("apiVersion resource.k8s.io/v1beta1",
         lambda s: s.update(apiVersion="resource.k8s.io/v1beta1")),
        ("slice name with '_'", lambda s: s["metadata"].update(name="node1_x"))]:
    s = good_slice(name="bad")
    mutate(s)
    code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", s)
    t.check(code == 422, f"refused with 422 Invalid: {what}", [f"{code} {body}"])

def consumer(name, cset="counters-mtty", counter="mtty-1", n=1):
    return {"name": name, "attributes": {"createOnDemand": {"bool": True}},
            "consumesCounters": [{"counterSet": cset,
                                  "counters": {counter: {"value": str(n)}}}]}


def counter_slice(name="cs", sets=None):
    s = good_slice(name=name, devices=[])
    del s["spec"]["devices"]
    s["spec"]["sharedCounters"] = sets if sets is not None else [
        {"name": "counters-mtty", "counters": {"mtty-1": {"value": "24"},
                                               "mtty-2": {"value": "8"}}}]
    return s


PARTITIONABLE_BAD = [
    ("65 devices when they consume counters",
     good_slice(name="bad", devices=[consumer(f"d{i}") for i in range(65)])),
    ("devices and sharedCounters in one slice",
     {**counter_slice("bad"), "spec": {**counter_slice("bad")["spec"], "devices": [dev("a")]}}),
    ("9 counter sets", counter_slice("bad", [{"name": f"s{i}", "counters": {"c": {"value": "1"}}}
                                             for i in range(9)])),
    ("33 counters in a set", counter_slice("bad", [{"name": "s", "counters": {
        f"c{i}": {"value": "1"} for i in range(33)}}])),
    ("a counter name that is no DNS label", counter_slice("bad", [{"name": "s", "counters": {
        "mtty_1": {"value": "1"}}}])),
    ("a counter value that is no quantity", counter_slice("bad", [{"name": "s", "counters": {
        "c": {"value": 3}}}])),
    ("3 counter consumptions of a device", good_slice(name="bad", devices=[
        {"name": "a", "consumesCounters": [
            {"counterSet": f"s{i}", "counters": {"c": {"value": "1"}}} for i in range(3)]}])),
]
for what, s in PARTITIONABLE_BAD:
    code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", s)
    t.check(code == 422 and "bad" not in srv.slices, f"refused with 422 Invalid: {what}",
            [f"{code} {json.dumps(body)[:300]}"])
code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices",
                     good_slice(name="od", devices=[consumer(f"d{i}") for i in range(64)]))
code2, body2 = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", counter_slice())
t.check(code == 201 and code2 == 201, "accepted: 64 counter-consuming devices; a slice of "
        "counter sets only", [f"{code} {json.dumps(body)[:300]}", f"{code2} {body2}"])
od, cs = srv.slices.get("od"), srv.slices.get("cs")
request(srv, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/od")
request(srv, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/cs")
srv.violations.clear()
if od and cs:
    for x in (od, cs):
        x["spec"]["pool"].update(generation=1, resourceSliceCount=2)
    t.check(apiserver.pool_errors([od, cs]) == [],
            "pool check: consumers and their counter set in two slices")
    od2 = copy.deepcopy(od)
    od2["spec"]["devices"][0]["consumesCounters"][0]["counterSet"] = "counters-nope"
    od2["spec"]["devices"][1]["consumesCounters"][0]["counters"] = {"mtty-3": {"value": "1"}}
    errs = apiserver.pool_errors([od2, cs])
    t.check(any("counters-nope" in e for e in errs) and any("mtty-3" in e for e in errs),
            "pool check: a missing counter set and a missing counter are caught", errs)

ok_limits = good_slice(name="limits", devices=[
    {"name": "a" * 63, "attributes": {**{f"a{i}": {"string": "s" * 64} for i in range(31)},
                                      "resource.kubernetes.io/" + "x" * 32: {"int": 1}}}] +
    [dev(f"d{i}") for i in range(127)])
code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", ok_limits)
t.check(code == 201, "accepted at the limits: 128 devices, 32 attributes, 63-char name, "
        "64-char values, 32-char ids", [f"{code} {json.dumps(body)[:300]}"])
request(srv, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/limits")
srv.violations.clear()

s = good_slice(gen=2)
s["metadata"]["resourceVersion"] = "1"
code, body = request(srv, "PUT", "/apis/resource.k8s.io/v1/resourceslices/node1-vbus-dev-0", s)
t.check(code == 409 and body["reason"] == "Conflict",
        "an update with a stale resourceVersion gets 409 Conflict", [f"{code} {body}"])
s["metadata"]["resourceVersion"] = rv
code, body = request(srv, "PUT", "/apis/resource.k8s.io/v1/resourceslices/node1-vbus-dev-0", s)
t.check(code == 200 and body["metadata"]["resourceVersion"] != rv and
        srv.slices["node1-vbus-dev-0"]["spec"]["pool"]["generation"] == 2,
        "an update with the current resourceVersion is stored with a new one", [f"{code}"])
s2 = copy.deepcopy(s)
s2["spec"]["nodeName"] = "node2"
del s2["metadata"]["resourceVersion"]
code, body = request(srv, "PUT", "/apis/resource.k8s.io/v1/resourceslices/node1-vbus-dev-0", s2)
t.check(code == 422, "spec.nodeName is immutable", [f"{code} {body}"])
code, body = request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", good_slice())
t.check(code == 409 and body["reason"] == "AlreadyExists", "a second create of one name: 409",
        [f"{code} {body}"])

other = good_slice(name="node2-vbus-dev-0")
other["spec"]["nodeName"] = "node2"
other["spec"]["pool"]["name"] = "node2"
request(srv, "POST", "/apis/resource.k8s.io/v1/resourceslices", other)
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/resourceslices?fieldSelector="
                     "spec.nodeName%3Dnode1%2Cspec.driver%3Dvbus.dev")
t.check(code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["node1-vbus-dev-0"],
        "fieldSelector spec.nodeName=node1,spec.driver=vbus.dev lists node1's slice only",
        [f"{code} {[i['metadata']['name'] for i in body.get('items', [])]}"])
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/resourceslices?fieldSelector="
                     "spec.foo%3Dx")
t.check(code == 400, "an unsupported field selector: 400", [f"{code} {body}"])

code, _ = request(srv, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/node2-vbus-dev-0")
code2, _ = request(srv, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/node2-vbus-dev-0")
t.check(code == 200 and code2 == 404, "delete: 200, then 404", [f"{code} {code2}"])
verbs = [(w["verb"], w["code"]) for w in srv.writes if w["name"] == "node2-vbus-dev-0"]
t.check(verbs == [("POST", 201), ("DELETE", 200), ("DELETE", 404)],
        "every slice write is recorded with its answer", [f"{verbs}"])

a = good_slice("p-0", gen=3, count=2, devices=[dev("a")])
b = good_slice("p-1", gen=3, count=2, devices=[dev("b")])
t.check(apiserver.pool_errors([a, b]) == [], "pool check: 2 slices, one generation, count 2")
b2 = copy.deepcopy(b)
b2["spec"]["pool"]["generation"] = 2
t.check(any("generations" in e for e in apiserver.pool_errors([a, b2])),
        "pool check: slices of two generations are caught")
t.check(any("resourceSliceCount" in e for e in apiserver.pool_errors([a])),
        "pool check: count 2 with one slice is caught")
b3 = good_slice("p-1", gen=3, count=2, devices=[dev("a")])
t.check(any("several slices" in e for e in apiserver.pool_errors([a, b3])),
        "pool check: one device name in two slices is caught")

srv.add_claim("ns1", "c1", "uid-1", [("r", "vbus.dev", "node1", "d1")],
              [(["r"], "vbus.dev", {"apiVersion": "vbus.dev/v1", "kind": "DeviceConfig",
                                    "driver": "vfio"})])
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/namespaces/ns1/resourceclaims/c1")
alloc = body.get("status", {}).get("allocation", {}).get("devices", {})
t.check(code == 200 and body["metadata"]["uid"] == "uid-1" and
        alloc["results"] == [{"request": "r", "driver": "vbus.dev", "pool": "node1",
                              "device": "d1"}] and
        alloc["config"][0]["opaque"]["parameters"]["driver"] == "vfio" and
        alloc["config"][0]["source"] == "FromClaim",
        "a ResourceClaim fixture is served in the v1 shape", [f"{code} {body}"])
code, body = request(srv, "GET", "/apis/resource.k8s.io/v1/namespaces/ns1/resourceclaims/nope")
t.check(code == 404 and body["reason"] == "NotFound", "an unknown claim: 404")
srv.stop()

# ---- kubelet: the proto check ------------------------------------------------------------------
out = os.path.join(work, "stubs")
os.mkdir(out)
try:
    kubelet.compile_protos(PROTO_DIR, out)
    errs = kubelet.check_protos()
    t.check(errs == [], f"{PROTO_DIR}: packages, services, messages and field numbers are "
            "upstream's", errs)
except kubelet.ProtoError as e:
    t.not_ok(f"{PROTO_DIR}: compiled with grpc_tools.protoc", [str(e)])
    errs = ["not compiled"]

# A copy with one field number changed must fail the check (in another process: one
# descriptor pool per process).
bad = os.path.join(work, "bad-proto")
shutil.copytree(PROTO_DIR, bad)
changed = False
for p in glob.glob(os.path.join(bad, "**", "*.proto"), recursive=True):
    text = open(p).read()
    new = text.replace("cdi_device_ids = 4", "cdi_device_ids = 5")
    if new != text:
        open(p, "w").write(new)
        changed = True
probe = ("import sys, tempfile; sys.path.insert(0, sys.argv[1]); import kubelet;"
         "kubelet.compile_protos(sys.argv[2], tempfile.mkdtemp(dir=sys.argv[3]));"
         "print('\\n'.join(kubelet.check_protos()))")
r = subprocess.run([sys.executable, "-c", probe, os.path.dirname(os.path.abspath(__file__)),
                    bad, work], capture_output=True, text=True)
t.check(changed and "Device.cdi_device_ids: field number 5, upstream 4" in r.stdout,
        "the check catches Device.cdi_device_ids = 5 in a changed copy",
        [f"changed: {changed}", r.stdout.strip(), r.stderr.strip()[-500:]])

# ---- kubelet: registration and calls against a plugin made here ------------------------------
if not errs:
    import grpc

    mc = kubelet.message_class
    notified = []

    def serve(sock, handlers):
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        for svc, methods in handlers.items():
            hs = {}
            for m, fn in methods.items():
                req_t, resp_t = kubelet.SERVICES[svc][m]
                hs[m] = grpc.unary_unary_rpc_method_handler(
                    fn, request_deserializer=mc(req_t).FromString,
                    response_serializer=lambda x: x.SerializeToString())
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(svc, hs),))
        server.add_insecure_port(f"unix:{sock}")
        server.start()
        return server

    def plugin(regdir, plugdir, ptype="DRAPlugin", versions=("v1.DRAPlugin",)):
        def get_info(req, ctx):
            return mc("pluginregistration.PluginInfo")(
                type=ptype, name="vbus.dev", endpoint=f"{plugdir}/dra.sock",
                supported_versions=list(versions))

        def notify(req, ctx):
            notified.append((req.plugin_registered, req.error))
            return mc("pluginregistration.RegistrationStatusResponse")()

        def prepare(req, ctx):
            resp = mc(f"{kubelet.DRA_PKG}.NodePrepareResourcesResponse")()
            for c in req.claims:
                r = resp.claims[c.uid]
                if c.name == "bad":
                    r.error = "bad claim"
                else:
                    r.devices.add(request_names=["r"], pool_name="node1", device_name="d1",
                                  cdi_device_ids=["vbus.dev/vfio=d1"])
            return resp

        def unprepare(req, ctx):
            resp = mc(f"{kubelet.DRA_PKG}.NodeUnprepareResourcesResponse")()
            for c in req.claims:
                resp.claims[c.uid].error = ""
            return resp

        os.makedirs(regdir, exist_ok=True)
        os.makedirs(plugdir, exist_ok=True)
        return [serve(f"{regdir}/vbus.dev-reg.sock", {"pluginregistration.Registration": {
                    "GetInfo": get_info, "NotifyRegistrationStatus": notify}}),
                serve(f"{plugdir}/dra.sock", {f"{kubelet.DRA_PKG}.DRAPlugin": {
                    "NodePrepareResources": prepare, "NodeUnprepareResources": unprepare}})]

    servers = plugin(f"{work}/reg", f"{work}/plug")
    k = kubelet.Kubelet(timeout=10)
    info, errs = k.register(f"{work}/reg", "vbus.dev")
    t.check(errs == [] and notified == [(True, "")] and k.endpoint == f"{work}/plug/dra.sock",
            "kubelet: GetInfo, checks, NotifyRegistrationStatus(registered)",
            [f"{errs}", f"{notified}"])
    got = k.prepare([("ns", "u1", "good"), ("ns", "u2", "bad")])
    t.check(got == {"u1": {"error": "", "devices": [{"requests": ["r"], "pool": "node1",
                                                      "device": "d1",
                                                      "cdi": ["vbus.dev/vfio=d1"]}]},
                    "u2": {"error": "bad claim", "devices": []}},
            "kubelet: NodePrepareResources, answers per claim uid", [f"{got}"])
    got = k.unprepare([("ns", "u1", "good")])
    t.check(got == {"u1": ""}, "kubelet: NodeUnprepareResources", [f"{got}"])
    for s in servers:
        s.stop(None)

    notified.clear()
    servers = plugin(f"{work}/reg2", f"{work}/plug2", ptype="CSIPlugin",
                     versions=("v1beta1.DRAPlugin",))
    k2 = kubelet.Kubelet(timeout=10)
    info, errs = k2.register(f"{work}/reg2", "vbus.dev")
    t.check(len(errs) == 2 and len(notified) == 1 and notified[0][0] is False and
            "CSIPlugin" in notified[0][1] and k2.endpoint is None,
            "kubelet: a wrong type and no v1.DRAPlugin are refused and notified as such",
            [f"{errs}", f"{notified}"])
    for s in servers:
        s.stop(None)

shutil.rmtree(work, ignore_errors=True)
t.finish()
