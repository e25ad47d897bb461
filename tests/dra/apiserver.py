# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in Kubernetes API server for vbus-dra's tests (resource.k8s.io/v1, JSON over https).

It serves what a DRA kubelet plugin uses of the API and nothing else:
  GET    /apis/resource.k8s.io/v1/namespaces/NS/resourceclaims/NAME   (from fixtures)
  GET    /apis/resource.k8s.io/v1/resourceslices[?fieldSelector=...]
  POST   /apis/resource.k8s.io/v1/resourceslices
  PUT    /apis/resource.k8s.io/v1/resourceslices/NAME                  (resourceVersion checked)
  DELETE /apis/resource.k8s.io/v1/resourceslices/NAME
Every request must carry "Authorization: Bearer TOKEN" (else 401, counted). Every slice written
is validated as the real server does for resource.k8s.io/v1 (the limits and formats of
k8s.io/api/resource/v1 and pkg/apis/resource/validation): an invalid one gets 422 Invalid with
the causes, and is recorded in `violations`. Unknown fields are refused too (the real server
drops them with a warning, which would silently lose what the driver meant to publish).
Every write (valid or not) is recorded in `writes`.

Written from the published API (types.go and the validation rules), not from vbus-dra.
"""
import base64
import copy
import http.server
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid as uuidlib

GROUP = "/apis/resource.k8s.io/v1"

# resource.k8s.io/v1 limits (k8s.io/api/resource/v1/types.go).
MAX_DEVICES = 128  # ResourceSliceMaxDevices
MAX_ATTRS_CAPS = 32  # ResourceSliceMaxAttributesAndCapacitiesPerDevice
MAX_DOMAIN = 63  # DeviceMaxDomainLength
MAX_ID = 32  # DeviceMaxIDLength
MAX_VALUE = 64  # DeviceAttributeMaxValueLength
MAX_DRIVER = 63  # DriverNameMaxLength
MAX_POOL = 253  # PoolNameMaxLength

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
C_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# semver.org 2.0.0
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
                    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")

SLICE_KEYS = {"apiVersion", "kind", "metadata", "spec"}
META_KEYS = {"name", "generateName", "namespace", "uid", "resourceVersion", "generation",
             "creationTimestamp", "labels", "annotations", "ownerReferences", "finalizers",
             "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}
SPEC_KEYS = {"driver", "pool", "nodeName", "nodeSelector", "allNodes", "devices",
             "perDeviceNodeSelection", "sharedCounters"}
POOL_KEYS = {"name", "generation", "resourceSliceCount"}
DEVICE_KEYS = {"name", "attributes", "capacity", "consumesCounters", "nodeName", "nodeSelector",
               "allNodes", "taints", "bindsToNode", "bindingConditions",
               "bindingFailureConditions", "allowMultipleAllocations"}
ATTR_KEYS = {"int", "bool", "string", "version"}
COUNTER_SET_KEYS = {"name", "counters"}
CONSUMPTION_KEYS = {"counterSet", "counters"}
MAX_DEVICES_WITH_COUNTERS = 64  # ResourceSliceMaxDevicesWithAdvancedFeatures (taints, counters)
MAX_COUNTER_SETS = 8  # ResourceSliceMaxCounterSets
MAX_COUNTERS = 32  # ResourceSliceMaxCountersPerCounterSet, ...PerDeviceCounterConsumption
MAX_CONSUMPTIONS = 2  # ResourceSliceMaxDeviceCounterConsumptionsPerDevice


def is_dns_subdomain(s, limit=253):
    return isinstance(s, str) and 0 < len(s) <= limit and DNS_SUBDOMAIN.match(s) is not None


def is_dns_label(s):
    return isinstance(s, str) and 0 < len(s) <= 63 and DNS_LABEL.match(s) is not None


def qualified_name_errors(name, path):
    """A QualifiedName: a C identifier (<= 32) or DOMAIN/ID with DOMAIN a DNS subdomain <= 63."""
    errs = []
    if not isinstance(name, str) or not name:
        return [f"{path}: Required value: name"]
    domain, sep, ident = name.rpartition("/")
    if sep:
        if not is_dns_subdomain(domain, MAX_DOMAIN):
            errs.append(f"{path}: Invalid value: {name!r}: the domain must be a DNS subdomain "
                        f"of at most {MAX_DOMAIN} characters")
    if not C_IDENT.match(ident):
        errs.append(f"{path}: Invalid value: {name!r}: a valid C identifier must start with "
                    "alphabetic character or '_', followed by a string of alphanumeric "
                    "characters or '_'")
    if len(ident) > MAX_ID:
        errs.append(f"{path}: Too long: may not be more than {MAX_ID} bytes ({name!r})")
    return errs


def counters_errors(counters, path):
    """A map of counter name (DNS label) -> {"value": quantity}, at most MAX_COUNTERS."""
    if not isinstance(counters, dict) or not counters:
        return [f"{path}: Required value: a map of counters"]
    errs = []
    if len(counters) > MAX_COUNTERS:
        errs.append(f"{path}: Too many: {len(counters)}: must have at most {MAX_COUNTERS}")
    for name, c in counters.items():
        if not is_dns_label(name):
            errs.append(f"{path}[{name}]: Invalid value: {name!r}: a DNS label")
        if not isinstance(c, dict) or set(c) != {"value"} or \
                not isinstance(c["value"], str) or not QUANTITY.match(c["value"]):
            errs.append(f"{path}[{name}]: Invalid value: {c!r}: want {{\"value\": quantity}}")
    return errs


def device_errors(dev, path, driver):
    errs = []
    if not isinstance(dev, dict):
        return [f"{path}: Invalid value: not an object"]
    for k in set(dev) - DEVICE_KEYS:
        errs.append(f"{path}.{k}: unknown field {k!r}")
    name = dev.get("name")
    if not is_dns_label(name):
        errs.append(f"{path}.name: Invalid value: {name!r}: a lowercase RFC 1123 label of at "
                    "most 63 characters")
    cons = dev.get("consumesCounters")
    if cons is not None:
        if not isinstance(cons, list) or len(cons) > MAX_CONSUMPTIONS:
            errs.append(f"{path}.consumesCounters: Too many: must have at most "
                        f"{MAX_CONSUMPTIONS} items")
        else:
            sets = [c.get("counterSet") for c in cons if isinstance(c, dict)]
            if len(set(sets)) != len(sets):
                errs.append(f"{path}.consumesCounters: Duplicate value: one counterSet twice")
            for i, c in enumerate(cons):
                cpath = f"{path}.consumesCounters[{i}]"
                if not isinstance(c, dict):
                    errs.append(f"{cpath}: Invalid value: not an object")
                    continue
                for k in set(c) - CONSUMPTION_KEYS:
                    errs.append(f"{cpath}.{k}: unknown field {k!r}")
                if not is_dns_label(c.get("counterSet")):
                    errs.append(f"{cpath}.counterSet: Invalid value: {c.get('counterSet')!r}")
                errs += counters_errors(c.get("counters"), f"{cpath}.counters")
    attrs = dev.get("attributes") or {}
    caps = dev.get("capacity") or {}
    if not isinstance(attrs, dict) or not isinstance(caps, dict):
        return errs + [f"{path}: attributes and capacity must be maps"]
    if len(attrs) + len(caps) > MAX_ATTRS_CAPS:
        errs.append(f"{path}: Too many: {len(attrs) + len(caps)}: must have at most "
                    f"{MAX_ATTRS_CAPS} attributes and capacities combined")
    seen = set()
    for aname, val in attrs.items():
        apath = f"{path}.attributes[{aname}]"
        errs += qualified_name_errors(aname, apath)
        # An unqualified name is in the driver's domain: "x" and "DRIVER/x" are the same one.
        full = aname if "/" in aname else f"{driver}/{aname}"
        if full in seen:
            errs.append(f"{apath}: Duplicate value: {full!r}")
        seen.add(full)
        if not isinstance(val, dict):
            errs.append(f"{apath}: Invalid value: not an object")
            continue
        for k in set(val) - ATTR_KEYS:
            errs.append(f"{apath}.{k}: unknown field {k!r}")
        set_keys = [k for k in ATTR_KEYS if val.get(k) is not None]
        if len(set_keys) != 1:
            errs.append(f"{apath}: Invalid value: exactly one value must be specified "
                        f"(has {sorted(set_keys)})")
            continue
        k = set_keys[0]
        v = val[k]
        if k == "int" and (not isinstance(v, int) or isinstance(v, bool)):
            errs.append(f"{apath}.int: Invalid value: {v!r}: not an integer")
        elif k == "bool" and not isinstance(v, bool):
            errs.append(f"{apath}.bool: Invalid value: {v!r}: not a boolean")
        elif k == "string":
            if not isinstance(v, str):
                errs.append(f"{apath}.string: Invalid value: {v!r}: not a string")
            elif len(v) > MAX_VALUE:
                errs.append(f"{apath}.string: Too long: may not be more than {MAX_VALUE} bytes")
        elif k == "version":
            if not isinstance(v, str) or not SEMVER.match(v):
                errs.append(f"{apath}.version: Invalid value: {v!r}: must be semver 2.0.0")
            elif len(v) > MAX_VALUE:
                errs.append(f"{apath}.version: Too long: may not be more than {MAX_VALUE} bytes")
    for cname, val in caps.items():
        cpath = f"{path}.capacity[{cname}]"
        errs += qualified_name_errors(cname, cpath)
        full = cname if "/" in cname else f"{driver}/{cname}"
        if full in seen:
            errs.append(f"{cpath}: Duplicate value: {full!r}")
        seen.add(full)
        q = val.get("value") if isinstance(val, dict) else None
        if not isinstance(q, str) or not QUANTITY.match(q):
            errs.append(f"{cpath}.value: Invalid value: {q!r}: not a quantity")
    return errs


def slice_errors(obj):
    """The reasons the real server would refuse OBJ as a resource.k8s.io/v1 ResourceSlice."""
    errs = []
    if not isinstance(obj, dict):
        return ["body: not an object"]
    if obj.get("apiVersion") != "resource.k8s.io/v1":
        errs.append(f"apiVersion: Invalid value: {obj.get('apiVersion')!r}")
    if obj.get("kind") != "ResourceSlice":
        errs.append(f"kind: Invalid value: {obj.get('kind')!r}")
    for k in set(obj) - SLICE_KEYS:
        errs.append(f"{k}: unknown field {k!r}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return errs + ["metadata: Required value"]
    for k in set(meta) - META_KEYS:
        errs.append(f"metadata.{k}: unknown field {k!r}")
    owners = meta.get("ownerReferences") or []
    for i, o in enumerate(owners if isinstance(owners, list) else [None]):
        if not isinstance(o, dict) or not all(isinstance(o.get(k), str) and o.get(k)
                                              for k in ("apiVersion", "kind", "name", "uid")):
            errs.append(f"metadata.ownerReferences[{i}]: Invalid value: apiVersion, kind, name "
                        "and uid are required")
    if sum(1 for o in owners if isinstance(o, dict) and o.get("controller")) > 1:
        errs.append("metadata.ownerReferences: Invalid value: only one reference can have "
                    "Controller set to true")
    name = meta.get("name")
    if name is None and meta.get("generateName"):
        pass
    elif not is_dns_subdomain(name):
        errs.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return errs + ["spec: Required value"]
    for k in set(spec) - SPEC_KEYS:
        errs.append(f"spec.{k}: unknown field {k!r}")
    driver = spec.get("driver")
    if not is_dns_subdomain(driver, MAX_DRIVER):
        errs.append(f"spec.driver: Invalid value: {driver!r}: a DNS subdomain of at most "
                    f"{MAX_DRIVER} characters")
    pool = spec.get("pool")
    if not isinstance(pool, dict):
        errs.append("spec.pool: Required value")
    else:
        for k in set(pool) - POOL_KEYS:
            errs.append(f"spec.pool.{k}: unknown field {k!r}")
        pname = pool.get("name")
        if not isinstance(pname, str) or not pname or len(pname) > MAX_POOL or \
                not all(is_dns_subdomain(p) for p in pname.split("/")):
            errs.append(f"spec.pool.name: Invalid value: {pname!r}: one or more DNS subdomains "
                        "separated by slashes")
        g = pool.get("generation")
        if not isinstance(g, int) or isinstance(g, bool) or g < 0:
            errs.append(f"spec.pool.generation: Invalid value: {g!r}: must be >= 0")
        c = pool.get("resourceSliceCount")
        if not isinstance(c, int) or isinstance(c, bool) or c <= 0:
            errs.append(f"spec.pool.resourceSliceCount: Invalid value: {c!r}: must be > 0")
    selectors = [k for k in ("nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection")
                 if spec.get(k) not in (None, False, "")]
    if len(selectors) != 1:
        errs.append(f"spec: Invalid value: exactly one of nodeName, nodeSelector, allNodes, "
                    f"perDeviceNodeSelection is required (has {selectors})")
    if spec.get("nodeName") is not None and not is_dns_subdomain(spec["nodeName"]):
        errs.append(f"spec.nodeName: Invalid value: {spec['nodeName']!r}")
    devices = spec.get("devices") or []
    shared = spec.get("sharedCounters") or []
    if not isinstance(devices, list):
        return errs + ["spec.devices: Invalid value: not a list"]
    if devices and shared:
        errs.append("spec: Invalid value: only one of devices and sharedCounters may be set")
    if not isinstance(shared, list) or len(shared) > MAX_COUNTER_SETS:
        errs.append(f"spec.sharedCounters: Too many: must have at most {MAX_COUNTER_SETS} items")
    else:
        set_names = set()
        for i, cs in enumerate(shared):
            spath = f"spec.sharedCounters[{i}]"
            if not isinstance(cs, dict):
                errs.append(f"{spath}: Invalid value: not an object")
                continue
            for k in set(cs) - COUNTER_SET_KEYS:
                errs.append(f"{spath}.{k}: unknown field {k!r}")
            if not is_dns_label(cs.get("name")):
                errs.append(f"{spath}.name: Invalid value: {cs.get('name')!r}: a DNS label")
            if cs.get("name") in set_names:
                errs.append(f"{spath}.name: Duplicate value: {cs.get('name')!r}")
            set_names.add(cs.get("name"))
            errs += counters_errors(cs.get("counters"), f"{spath}.counters")
    advanced = any(isinstance(d, dict) and (d.get("consumesCounters") or d.get("taints"))
                   for d in devices)
    limit = MAX_DEVICES_WITH_COUNTERS if advanced else MAX_DEVICES
    if len(devices) > limit:
        errs.append(f"spec.devices: Too many: {len(devices)}: must have at most {limit} items"
                    + (" when a device consumes counters or has taints" if advanced else ""))
    names = set()
    for i, dev in enumerate(devices):
        errs += device_errors(dev, f"spec.devices[{i}]", driver)
        n = dev.get("name") if isinstance(dev, dict) else None
        if n in names:
            errs.append(f"spec.devices[{i}].name: Duplicate value: {n!r}")
        names.add(n)
    return errs


def pool_errors(slices):
    """The consistency a consumer (the scheduler) needs of one pool's slices once the driver is
    done writing: one generation on every slice, resourceSliceCount = the number of slices, and
    device names unique across the pool."""
    errs = []
    pools = {}
    for s in slices:
        spec = s["spec"]
        pools.setdefault((spec["driver"], spec["pool"]["name"]), []).append(s)
    for (driver, pool), ss in sorted(pools.items()):
        gens = {s["spec"]["pool"]["generation"] for s in ss}
        counts = {s["spec"]["pool"]["resourceSliceCount"] for s in ss}
        if len(gens) != 1:
            errs.append(f"pool {driver}/{pool}: slices of several generations {sorted(gens)}")
        if counts != {len(ss)}:
            errs.append(f"pool {driver}/{pool}: {len(ss)} slices but resourceSliceCount "
                        f"{sorted(counts)}")
        names = [d["name"] for s in ss for d in s["spec"].get("devices") or []]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            errs.append(f"pool {driver}/{pool}: device names in several slices: {dups}")
        sets = {}
        for s in ss:
            for cs in s["spec"].get("sharedCounters") or []:
                if cs["name"] in sets:
                    errs.append(f"pool {driver}/{pool}: counter set {cs['name']} twice")
                sets[cs["name"]] = cs.get("counters") or {}
        for s in ss:
            for d in s["spec"].get("devices") or []:
                for c in d.get("consumesCounters") or []:
                    have = sets.get(c["counterSet"])
                    if have is None:
                        errs.append(f"pool {driver}/{pool}: device {d['name']} consumes from "
                                    f"counter set {c['counterSet']}, which the pool lacks")
                        continue
                    for n in c.get("counters") or {}:
                        if n not in have:
                            errs.append(f"pool {driver}/{pool}: device {d['name']}: counter "
                                        f"{n} is not in set {c['counterSet']}")
    return errs


def status(code, reason, message, causes=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if causes:
        s["details"] = {"causes": [{"message": c} for c in causes]}
    return s


def match_fields(obj, selector):
    """A field selector of equality terms (a=b, a==b, a!=b) on spec.nodeName, spec.driver,
    spec.pool.name (the fields resourceslices support); unknown fields are a 400."""
    fields = {"spec.nodeName": obj["spec"].get("nodeName"),
              "spec.driver": obj["spec"].get("driver"),
              "spec.pool.name": obj["spec"].get("pool", {}).get("name"),
              "metadata.name": obj["metadata"].get("name")}
    for term in filter(None, selector.split(",")):
        m = re.match(r"^([^!=]+)(!=|==|=)(.*)$", term)
        if not m or m.group(1) not in fields:
            raise ValueError(f"field label not supported: {term}")
        eq = fields[m.group(1)] == m.group(3)
        if eq != (m.group(2) != "!="):
            return False
    return True


class ApiServer:
    """The server, on 127.0.0.1 (port chosen by the kernel), in a thread of the caller.

    claims: {(namespace, name): ResourceClaim dict}; tests change it at will.
    slices: {name: stored ResourceSlice}; writes: every slice write, in order, as
    {"verb", "name", "body", "code", "time"}; violations: what was refused and why (and what a
    consumer would have seen wrong); unauthorized: requests without the right token.
    """

    def __init__(self, workdir, token="vbus-dra-test-token", tls=True):
        self.workdir = workdir
        self.token = token
        self.claims = {}
        self.nodes = {}  # name -> Node (GET /api/v1/nodes/NAME)
        self.slices = {}
        self.writes = []
        self.requests = []
        self.violations = []
        self.unauthorized = []
        self.rv = 1000
        self.max_generation = {}
        self.lock = threading.RLock()  # tests hold it while they look (snapshot)
        self.changed = threading.Condition(self.lock)
        self.fail_next = []  # [(method, path regex, code)]: injected failures, one each
        self.tls = tls
        if tls:
            self.ca, self.cert, self.key = make_certs(workdir)
        handler = self._handler_class()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, self.key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, path, token=None, with_ca_data=False):
        """A kubeconfig as kubectl writes it (YAML, block style) for this server."""
        lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: test", "  cluster:",
                 f"    server: {self.url}"]
        if self.tls:
            if with_ca_data:
                data = base64.b64encode(open(self.ca, "rb").read()).decode()
                lines.append(f"    certificate-authority-data: {data}")
            else:
                lines.append(f"    certificate-authority: {self.ca}")
        lines += ["users:", "- name: test", "  user:", f"    token: {token or self.token}",
                  "contexts:", "- name: test", "  context:", "    cluster: test",
                  "    user: test", "current-context: test", ""]
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return path

    # ---- what tests look at ------------------------------------------------------------------

    def add_claim(self, namespace, name, uid, results, config=()):
        """A ResourceClaim allocated with RESULTS [(request, driver, pool, device[, extra fields
        of the result such as {"adminAccess": True}])] and CONFIG
        [(requests, driver, parameters)] (source FromClaim)."""
        claim = {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": namespace, "uid": uid,
                         "resourceVersion": "1"},
            "spec": {"devices": {"requests": [
                {"name": r, "exactly": {"deviceClassName": "vbus.dev"}}
                for r in sorted({r[0] for r in results})]}},
            "status": {"allocation": {"devices": {
                "results": [{"request": r[0], "driver": r[1], "pool": r[2], "device": r[3],
                             **(r[4] if len(r) > 4 else {})} for r in results],
                "config": [{"source": "FromClaim", "requests": list(reqs),
                            "opaque": {"driver": d, "parameters": params}}
                           for reqs, d, params in config]}}},
        }
        with self.lock:
            self.claims[(namespace, name)] = claim
        return claim

    def snapshot(self):
        with self.lock:
            return copy.deepcopy(self.slices), list(self.writes)

    def wait_for(self, pred, timeout):
        """Waits until PRED() holds, looking again at every slice write (and every 0.2 s)."""
        end = time.monotonic() + timeout
        while True:
            if pred():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            with self.changed:
                self.changed.wait(min(left, 0.2))

    def wait_quiet(self, quiet=1.0, timeout=15):
        """Waits until no slice write came for QUIET seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                last = self.writes[-1]["time"] if self.writes else 0
            if time.monotonic() - last >= quiet:
                return True
            time.sleep(0.1)
        return False

    # ---- the HTTP side -------------------------------------------------------------------------

    def _handler_class(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                return raw

            def _dispatch(self, method):
                raw = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                auth = self.headers.get("Authorization")
                with server.lock:
                    server.requests.append({"method": method, "path": self.path,
                                            "auth": auth, "time": time.monotonic()})
                if auth != f"Bearer {server.token}":
                    with server.lock:
                        server.unauthorized.append((method, self.path, auth))
                    return self._send(401, status(401, "Unauthorized", "Unauthorized"))
                with server.lock:
                    for i, (m, rx, code) in enumerate(server.fail_next):
                        if m == method and re.search(rx, url.path):
                            del server.fail_next[i]
                            return self._send(code, status(code, "InternalError",
                                                           "injected failure"))
                try:
                    code, obj = server.handle(method, url.path, query, raw)
                except Exception as e:  # a bug here must show, not hang the client
                    code, obj = 500, status(500, "InternalError", f"stand-in: {e!r}")
                self._send(code, obj)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PUT(self):
                self._dispatch("PUT")

            def do_DELETE(self):
                self._dispatch("DELETE")

            def do_PATCH(self):
                self._dispatch("PATCH")

        return Handler

    def _record(self, verb, name, body, code, errs=()):
        self.writes.append({"verb": verb, "name": name, "body": body, "code": code,
                            "errors": list(errs), "time": time.monotonic()})
        self.changed.notify_all()

    def _store(self, obj, name):
        self.rv += 1
        meta = obj["metadata"]
        old = self.slices.get(name)
        meta["name"] = name
        meta["resourceVersion"] = str(self.rv)
        meta["uid"] = old["metadata"]["uid"] if old else str(uuidlib.uuid4())
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"] if old else \
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        meta["generation"] = (old["metadata"].get("generation", 1) + 1) if old else 1
        self.slices[name] = obj
        spec = obj["spec"]
        key = (spec["driver"], spec["pool"]["name"])
        g = spec["pool"]["generation"]
        # A consumer uses the highest generation: one lower than what was published before
        # hides the pool (unless every slice is rewritten to it, as a reset).
        prev = self.max_generation.get(key)
        if prev is not None and g < prev:
            others = [s for n, s in self.slices.items() if n != name and
                      (s["spec"]["driver"], s["spec"]["pool"]["name"]) == key]
            if any(s["spec"]["pool"]["generation"] > g for s in others):
                self.violations.append(f"{name}: pool {key[1]} generation went down from "
                                       f"{prev} to {g} while other slices have more")
        self.max_generation[key] = max(g, prev or 0)

    def handle(self, method, path, query, raw):
        m = re.fullmatch(r"/api/v1/nodes/([^/]+)", path)
        if m and method == "GET":
            with self.lock:
                node = self.nodes.get(m.group(1))
            if node is None:
                return 404, status(404, "NotFound", f'nodes "{m.group(1)}" not found')
            return 200, copy.deepcopy(node)
        m = re.fullmatch(GROUP + r"/namespaces/([^/]+)/resourceclaims/([^/]+)", path)
        if m:
            if method != "GET":
                return 405, status(405, "MethodNotAllowed", f"{method} not served here")
            with self.lock:
                claim = self.claims.get((m.group(1), m.group(2)))
            if claim is None:
                return 404, status(404, "NotFound", f'resourceclaims.resource.k8s.io '
                                   f'"{m.group(2)}" not found')
            return 200, copy.deepcopy(claim)
        m = re.fullmatch(GROUP + r"/resourceslices(?:/([^/]+))?", path)
        if not m:
            return 404, status(404, "NotFound", "the server could not find the requested "
                               "resource")
        name = m.group(1)
        with self.lock:
            if method == "GET" and name is None:
                sel = (query.get("fieldSelector") or [""])[0]
                try:
                    items = [copy.deepcopy(s) for _, s in sorted(self.slices.items())
                             if match_fields(s, sel)]
                except ValueError as e:
                    return 400, status(400, "BadRequest", str(e))
                return 200, {"kind": "ResourceSliceList", "apiVersion": "resource.k8s.io/v1",
                             "metadata": {"resourceVersion": str(self.rv)}, "items": items}
            if method == "GET":
                if name not in self.slices:
                    return 404, status(404, "NotFound", f'resourceslices.resource.k8s.io '
                                       f'"{name}" not found')
                return 200, copy.deepcopy(self.slices[name])
            if method == "DELETE" and name is not None:
                if name not in self.slices:
                    self._record("DELETE", name, None, 404)
                    return 404, status(404, "NotFound", f'resourceslices.resource.k8s.io '
                                       f'"{name}" not found')
                obj = self.slices.pop(name)
                self._record("DELETE", name, None, 200)
                return 200, obj
            if method not in ("POST", "PUT") or (method == "POST") != (name is None):
                return 405, status(405, "MethodNotAllowed", f"{method} {path} not served")
            try:
                obj = json.loads(raw)
            except ValueError as e:
                self._record(method, name, raw.decode(errors="replace"), 400)
                return 400, status(400, "BadRequest", f"invalid JSON: {e}")
            body = copy.deepcopy(obj)
            errs = slice_errors(obj)
            if method == "PUT" and isinstance(obj, dict) and \
                    obj.get("metadata", {}).get("name") != name:
                errs.append(f"metadata.name: Invalid value: {obj.get('metadata', {}).get('name')!r}"
                            f": does not match the name in the URL {name!r}")
            if errs:
                self.violations.append(f"{method} {name or '(new)'}: " + "; ".join(errs))
                self._record(method, name, body, 422, errs)
                return 422, status(422, "Invalid", f"ResourceSlice is invalid: {errs[0]}", errs)
            meta = obj["metadata"]
            if method == "POST":
                new = meta.get("name")
                if not new:
                    new = meta["generateName"] + uuidlib.uuid4().hex[:5]
                if new in self.slices:
                    self._record("POST", new, body, 409)
                    return 409, status(409, "AlreadyExists", f'resourceslices.resource.k8s.io '
                                       f'"{new}" already exists')
                if meta.get("resourceVersion"):
                    self._record("POST", new, body, 400)
                    return 400, status(400, "BadRequest", "resourceVersion should not be set "
                                       "on objects to be created")
                self._store(obj, new)
                self._record("POST", new, body, 201)
                return 201, copy.deepcopy(obj)
            if name not in self.slices:
                self._record("PUT", name, body, 404)
                return 404, status(404, "NotFound", f'resourceslices.resource.k8s.io '
                                   f'"{name}" not found')
            old = self.slices[name]
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                self._record("PUT", name, body, 409)
                return 409, status(409, "Conflict", f'Operation cannot be fulfilled on '
                                   f'resourceslices.resource.k8s.io "{name}": the object has '
                                   'been modified; please apply your changes to the latest '
                                   'version and try again')
            for field in ("driver", "nodeName"):
                if obj["spec"].get(field) != old["spec"].get(field):
                    e = f"spec.{field}: Invalid value: field is immutable"
                    self.violations.append(f"PUT {name}: {e}")
                    self._record("PUT", name, body, 422, [e])
                    return 422, status(422, "Invalid", f"ResourceSlice is invalid: {e}", [e])
            if obj["spec"]["pool"]["name"] != old["spec"]["pool"]["name"]:
                e = "spec.pool.name: Invalid value: field is immutable"
                self.violations.append(f"PUT {name}: {e}")
                self._record("PUT", name, body, 422, [e])
                return 422, status(422, "Invalid", f"ResourceSlice is invalid: {e}", [e])
            self._store(obj, name)
            self._record("PUT", name, body, 200)
            return 200, copy.deepcopy(obj)


def make_certs(workdir):
    """A CA and a server certificate for 127.0.0.1 (and localhost), made by openssl."""
    ca, cakey = f"{workdir}/ca.crt", f"{workdir}/ca.key"
    cert, key, csr = f"{workdir}/server.crt", f"{workdir}/server.key", f"{workdir}/server.csr"
    ext = f"{workdir}/server.ext"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    # P-256 keys: RSA key generation takes seconds under qemu TCG (tests/vm/dra.sh).
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
    run("openssl", "req", "-x509", *ec, "-nodes", "-days", "2",
        "-subj", "/CN=vbus-dra-test-ca", "-keyout", cakey, "-out", ca)
    run("openssl", "req", *ec, "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", cert)
    os.chmod(key, 0o600)
    return ca, cert, key
