#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vbus-dra against vbusd (fake kernel) on a private bus, a stand-in API server and a stand-in
kubelet (TAP). Started by run.sh, which sets up the bus, the tree and vbusd (environment: T,
ROOT, SRC, VBUS_DRA, VBUSCTL, DBUS_SYSTEM_BUS_ADDRESS).

What is checked, as a kubelet, a scheduler and a container runtime would see it: registration;
the published ResourceSlices against `vbusctl -j list` (names, attributes, limits, generations);
prepare and unprepare of claims (the fake sysfs, the CDI specs vbusd writes, per-claim errors,
idempotence); a restart (SIGTERM, SIGKILL) between prepare and unprepare; nothing left behind.
"""
import glob
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver  # noqa: E402
import harness  # noqa: E402
from harness import die_with_us, wait_until  # noqa: E402
import kubelet  # noqa: E402
import tap  # noqa: E402

T = os.environ["T"]
ROOT = os.environ["ROOT"]
SRC = os.environ["SRC"]
VBUS_DRA = os.environ["VBUS_DRA"]
VBUSCTL = os.environ["VBUSCTL"]
BUS = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]

NODE = "worker-1"
DRIVER = "vbus.dev"
PLUGIN_DIR = f"{T}/kubelet/plugins/{DRIVER}"
REGISTRY_DIR = f"{T}/kubelet/plugins_registry"
STATE_DIR = f"{T}/vbus-dra"
NS = "default"
CONFIG = {"apiVersion": "vbus.dev/v1", "kind": "DeviceConfig"}

t = tap.Tap()


def crashed_end():
    print(f"1..{t.n}", flush=True)
    os._exit(1)


harness.on_crash(t, crashed_end)


# ---- helpers ------------------------------------------------------------------------------------


def vbusctl(*args, check=True):
    return harness.run(VBUSCTL, *args, check=check, timeout=60)


def listing(*opts):
    return harness.listing(VBUSCTL, *opts)


def cdi_list():
    return harness.cdi_list(VBUSCTL)


def cdi_name(name):
    """lib/cdi.c's documented rule (vbus.json(5)): ':' as '_', trailing non-alnum dropped."""
    s = name.replace(":", "_")
    while len(s) > 1 and not s[-1].isalnum():
        s = s[:-1]
    return s


def sysfs(path):
    return os.path.join(ROOT, path.lstrip("/"))


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def pci_dir(addr):
    return sysfs(f"/sys/bus/pci/devices/{addr}")


def bound(addr):
    """The driver a PCI function is bound to in the fake sysfs (None: unbound)."""
    link = os.path.join(pci_dir(addr), "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def mdev_present(uuid):
    return os.path.lexists(sysfs(f"/sys/bus/mdev/devices/{uuid}"))


def state():
    """What the host shows of its devices: the listing, the definitions, every PCI function's
    driver, the mdevs on the bus and every type's available instances."""
    defs = {}
    for p in sorted(glob.glob(sysfs("/etc/vbus/devices.d/*.json"))):
        with open(p) as f:
            defs[os.path.basename(p)] = json.load(f)
    return {
        "listing": json.loads(vbusctl("-j", "list", "--all")),
        "definitions": defs,
        "pci drivers": {a: bound(a) for a in sorted(os.listdir(sysfs("/sys/bus/pci/devices")))},
        "mdevs": sorted(os.listdir(sysfs("/sys/bus/mdev/devices"))),
        "instances": instances(),
    }


def instances():
    """Every mdev type's available_instances (sys/devices walked without following links)."""
    out = {}
    for d, dirs, _ in os.walk(sysfs("/sys/devices")):
        if os.path.basename(d) == "mdev_supported_types":
            for ty in sorted(dirs):
                p = os.path.join(d, ty, "available_instances")
                out[p[len(ROOT):]] = read(p)
    return out


def overrides():
    return {a: read(os.path.join(pci_dir(a), "driver_override"))
            for a in sorted(os.listdir(sysfs("/sys/bus/pci/devices")))}


def diff(a, b, path=""):
    """The paths where A and B differ (for diagnostics)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += diff(a.get(k), b.get(k), f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)} -> {json.dumps(b)}"]


class Dra(harness.Dra):
    """One vbus-dra process of this suite (its defaults: node, directories, bus)."""

    def __init__(self, kubeconfig, tag, state_dir=STATE_DIR, plugin_dir=PLUGIN_DIR,
                 registry_dir=REGISTRY_DIR, extra=(), node=NODE, wrapper=(), env=None,
                 argv=None):
        if argv is None:
            argv = ["--node-name", node, "--driver-name", DRIVER,
                    "--plugin-dir", plugin_dir, "--registry-dir", registry_dir,
                    "--state-dir", state_dir, "--bus-address", BUS, "--publish-interval", "60",
                    *(["--kubeconfig", kubeconfig] if kubeconfig else []), *extra]
        super().__init__(VBUS_DRA, argv, f"{T}/vbus-dra-{tag}.log", wrapper=wrapper, env=env)


# ---- what the slices must say --------------------------------------------------------------------

def label_ok(devname, vbusname):
    """The contract's naming: the vbus name when it is a DNS label already, else the name
    lowercased, [^a-z0-9-] as '-', cut, plus '-' and 8 hex digits of its sha256."""
    if not apiserver.is_dns_label(devname):
        return False
    if apiserver.is_dns_label(vbusname):
        return devname == vbusname or devname.endswith(
            "-" + hashlib.sha256(vbusname.encode()).hexdigest()[:8])
    sanitized = re.sub(r"[^a-z0-9-]", "-", vbusname.lower())
    suffix = "-" + hashlib.sha256(vbusname.encode()).hexdigest()[:8]
    return devname.endswith(suffix) and sanitized.startswith(devname[:-len(suffix)]) and \
        len(devname) > len(suffix)


def pcie_root(addr):
    """pciDDDD:BB of the host bridge above ADDR in the fake sysfs (None: none shown)."""
    try:
        real = os.path.realpath(pci_dir(addr))
    except OSError:
        return None
    for part in real.split("/"):
        if re.fullmatch(r"pci[0-9a-f]{4}:[0-9a-f]{2}", part):
            return part
    return None


def numa(addr):
    v = read(os.path.join(pci_dir(addr), "numa_node"))
    return int(v) if v is not None and v.lstrip("-").isdigit() and int(v) >= 0 else None


PCI_ADDR = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def attr_errors(dev, e):
    """The differences between a published device's attributes and listing entry E."""
    errs = []
    attrs = {}
    for k, v in (dev.get("attributes") or {}).items():
        attrs[k[len(DRIVER) + 1:] if k.startswith(DRIVER + "/") else k] = v
    want = {"kind": {"string": e["kind"]}, "parent": {"string": e["parent"]},
            "name": {"string": e["name"]}}
    optional = {}
    if e.get("type"):
        want["type"] = {"string": e["type"]}
    if e.get("wanted_driver"):
        want["driver"] = {"string": e["wanted_driver"]}
    if e.get("bound_driver"):
        want["boundDriver"] = {"string": e["bound_driver"]}
    addr = e.get("pci_address")
    if e["kind"] in ("pci", "vf"):
        if addr:
            want["resource.kubernetes.io/pciBusID"] = {"string": addr}
            if pcie_root(addr):
                want["resource.kubernetes.io/pcieRoot"] = {"string": pcie_root(addr)}
            if numa(addr) is not None:
                want["numaNode"] = {"int": numa(addr)}
    elif PCI_ADDR.match(e["parent"] or ""):
        # mdev (vdpa, virtbus) on a PCI parent: where a PCI address is known.
        p = e["parent"]
        optional["resource.kubernetes.io/pciBusID"] = {"string": p}
        if pcie_root(p):
            optional["resource.kubernetes.io/pcieRoot"] = {"string": pcie_root(p)}
        if numa(p) is not None:
            optional["numaNode"] = {"int": numa(p)}
    if e["kind"] == "mdev":
        want["mdevUUID"] = {"string": e["uuid"]}
    for k, v in want.items():
        if attrs.get(k) != v:
            errs.append(f"{e['name']}: attribute {k} is {json.dumps(attrs.get(k))}, want "
                        f"{json.dumps(v)}")
    for k, v in optional.items():
        if k in attrs and attrs[k] != v:
            errs.append(f"{e['name']}: attribute {k} is {json.dumps(attrs[k])}, want "
                        f"{json.dumps(v)} or nothing")
    return errs


def pool_slices(srv):
    return harness.pool_slices(srv, NODE, DRIVER)


def on_demand(srv):
    return harness.on_demand(srv, NODE, DRIVER)


def counter_sets(srv):
    return harness.counter_sets(srv, NODE, DRIVER)


def published(srv):
    return harness.published(srv, NODE, DRIVER)


def generation(srv):
    gens = {s["spec"]["pool"]["generation"] for s in pool_slices(srv).values()}
    return max(gens) if gens else None


def pool_complete(srv):
    """The pool as a consumer takes it: every slice of one generation, count slices."""
    ss = list(pool_slices(srv).values())
    return bool(ss) and not apiserver.pool_errors(ss)


def check_slices(srv, what):
    """The stored pool equals `vbusctl -j list`'s definitions, attribute for attribute."""
    ss = pool_slices(srv)
    errs = apiserver.pool_errors(list(ss.values()))
    for i, name in enumerate(sorted(ss, key=lambda n: int(n.rsplit("-", 1)[-1])
                                    if n.rsplit("-", 1)[-1].isdigit() else -1)):
        if name != f"{NODE}-{DRIVER.replace('.', '-')}-{i}":
            errs.append(f"slice name {name}, want {NODE}-{DRIVER.replace('.', '-')}-{i}")
        s = ss[name]
        if s["spec"]["pool"]["name"] != NODE:
            errs.append(f"{name}: pool {s['spec']['pool']['name']}, want {NODE}")
    entries = {n: e for n, e in listing("--all").items() if e.get("defined")}
    pub = published(srv)
    for n in sorted(set(entries) - set(pub)):
        errs.append(f"{n}: defined, not published")
    for n in sorted(set(pub) - set(entries)):
        errs.append(f"{n}: published, not a definition vbusd lists")
    for n in sorted(set(entries) & set(pub)):
        devname, dev, _, _ = pub[n]
        if not label_ok(devname, n):
            errs.append(f"{n}: device name {devname!r} breaks the naming rule")
        errs += attr_errors(dev, entries[n])
    return t.check(not errs, what, errs[:40])


# ---- setup ---------------------------------------------------------------------------------------

os.makedirs(PLUGIN_DIR)
os.makedirs(REGISTRY_DIR)
os.makedirs(STATE_DIR)
srv = apiserver.ApiServer(f"{T}").start()
NODE_UID = "5e1f0000-0000-4000-8000-00000000cafe"
srv.nodes[NODE] = {"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": NODE, "uid": NODE_UID, "resourceVersion": "7"}}
kubeconfig = srv.kubeconfig(f"{T}/kubeconfig")
stubs = f"{T}/stubs"
os.makedirs(stubs)
try:
    kubelet.compile_protos(f"{SRC}/dra/proto", stubs)
    proto_errs = kubelet.check_protos()
except kubelet.ProtoError as e:
    proto_errs = [str(e)]
t.check(not proto_errs, "dra/proto: the messages, field numbers and services of kubelet's "
        "dra/v1 and pluginregistration/v1", proto_errs)
if proto_errs:
    t.finish()

# ---- vbus-dra before vbusd, as at boot: it waits, then publishes -------------------------------


def start_vbusd():
    """run.sh starts vbusd (tests/integration/lib.sh's start_vbusd) when asked."""
    with open(f"{T}/to-run", "w") as f:
        f.write("start-vbusd\n")
    with open(f"{T}/to-suite") as f:
        return f.readline().strip() == "ready"


dra = Dra(kubeconfig, "1")
time.sleep(2)
t.check(dra.proc.poll() is None and not dra.ready.is_set() and not srv.writes,
        "before vbusd is on the bus: vbus-dra waits (running, not ready, no slice written)",
        [f"exit {dra.proc.poll()}, writes {[(w['verb'], w['name']) for w in srv.writes]}"] +
        dra.tail(10))
if not start_vbusd():
    t.not_ok("vbusd (fake kernel) is ready")
    dra.stop(signal.SIGKILL)
    t.finish()
t0 = time.monotonic()
ready = dra.wait_ready()
t.check(ready, f"vbusd is there: vbus-dra ready ({time.monotonic() - t0:.1f} s)", dra.tail())
if not ready:
    t.finish()
t.check(pool_slices(srv), "ready comes after the first publish: the pool is on the server",
        [f"slices: {sorted(srv.slices)}"])

# Definitions beside the tree's (gpu-desktop: a running GVT mdev; nic-vf1: an unbound VF):
# mdevs on mtty to start, a PCI function on its host driver, names that are no DNS label.
M1_UUID = "aaaaaaaa-1111-4222-8333-000000000001"
for args in (["m1", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2", "--uuid", M1_UUID],
             ["m3", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2"],
             ["m4", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2"],
             ["m6", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2"],
             ["ghost", "--kind", "pci", "--parent", "0000:0a:00.0", "--driver", "vfio"],
             ["disk:05", "--kind", "pci", "--parent", "0000:05:00.0", "--driver", "nvme"],
             ["upper-case-name", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-1"],
             ["Upper.Case_Name", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-1"],
             ["x" * 64, "--kind", "mdev", "--parent", "mtty", "--type", "mtty-1"]):
    vbusctl("define", *args, "--manual")

t.check(srv.wait_for(lambda: {"m1", "disk:05", "x" * 64} <= set(published(srv)), 5),
        "definitions made through vbusctl are published")

# A token the server refuses and a CA that did not sign it: vbus-dra must not be ready, and
# must say why.
bad_kc = srv.kubeconfig(f"{T}/kubeconfig-bad-token", token="wrong-token")
other = f"{T}/other-ca"
os.makedirs(other)
apiserver.make_certs(other)
bad_ca = f"{T}/kubeconfig-bad-ca"
with open(kubeconfig) as f, open(bad_ca, "w") as g:
    g.write(f.read().replace(srv.ca, f"{other}/ca.crt"))
for what, kc, words in (("a refused token", bad_kc, ("401", "Unauthorized")),
                        ("a server certificate its CA did not sign", bad_ca,
                         ("certificate", "SSL", "TLS"))):
    os.makedirs(f"{T}/bad/plugins", exist_ok=True)
    os.makedirs(f"{T}/bad/registry", exist_ok=True)
    os.makedirs(f"{T}/bad/state", exist_ok=True)
    d = Dra(kc, "bad", state_dir=f"{T}/bad/state", plugin_dir=f"{T}/bad/plugins",
            registry_dir=f"{T}/bad/registry")
    said = wait_until(lambda: d.ready.is_set() or d.proc.poll() is not None or
                      any(any(w in line for w in words) for line in d.lines), 5)
    ready = d.wait_ready(0.5)
    said = any(any(w in line for w in words) for line in d.lines)
    d.stop(signal.SIGKILL)
    t.check(not ready and said, f"with {what}: not ready, and the log says why",
            [f"ready: {ready}"] + d.tail(10))
t.check(any(a == "Bearer wrong-token" for _, _, a in srv.unauthorized),
        "the kubeconfig's token is what vbus-dra sends (the wrong one was seen and refused)",
        [f"{srv.unauthorized[:5]}"])
srv.unauthorized.clear()

# The other ways to the server: certificate-authority-data in the kubeconfig, and in-cluster
# (KUBERNETES_SERVICE_HOST/PORT and the service account's token and ca.crt, mounted here in a
# private mount namespace over a tmpfs on /run, as the kubelet mounts them into the pod).
sa = f"{T}/serviceaccount"
os.makedirs(sa)
with open(f"{sa}/token", "w") as f:
    f.write(srv.token)
with open(srv.ca) as f, open(f"{sa}/ca.crt", "w") as g:
    g.write(f.read())
in_cluster = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs tmpfs /run && d=/var/run/secrets/kubernetes.io/serviceaccount && '
              'mkdir -p $d && cp "$0/token" "$0/ca.crt" $d/ && exec "$@"', sa]
# The in-cluster one is started as deploy/daemonset.yaml does (--opt=value), with the
# kubelet-directory aliases of the other DRA drivers.
ic = f"{T}/worker-incluster"
ic_argv = ["--node-name=worker-incluster", f"--driver-name={DRIVER}",
           f"--kubelet-plugins-directory-path={ic}/plugins",
           f"--kubelet-registrar-directory-path={ic}/registry", f"--state-dir={ic}/state",
           f"--bus-address={BUS}"]
for node, what, kc, kw in (
        ("worker-cadata", "certificate-authority-data",
         srv.kubeconfig(f"{T}/kubeconfig-data", with_ca_data=True), {}),
        ("worker-incluster", "in-cluster config, the DaemonSet's --opt=value arguments",
         None, dict(wrapper=in_cluster, argv=ic_argv, env={
             "KUBERNETES_SERVICE_HOST": "127.0.0.1",
             "KUBERNETES_SERVICE_PORT": str(srv.port)}))):
    for sub in ("plugins", "registry", "state"):
        os.makedirs(f"{T}/{node}/{sub}")
    d = Dra(kc, node, state_dir=f"{T}/{node}/state", plugin_dir=f"{T}/{node}/plugins",
            registry_dir=f"{T}/{node}/registry", node=node, **kw)
    ready = d.wait_ready()
    theirs = [s for s in srv.snapshot()[0].values() if s["spec"].get("nodeName") == node]
    try:
        info, errs = kubelet.Kubelet().register(f"{T}/{node}/registry", DRIVER)
    except Exception as e:
        info, errs = None, [repr(e)]
    want = f"{T}/{node}/plugins" + (f"/{DRIVER}" if "argv" in kw else "") + "/dra.sock"
    rc = d.stop()
    t.check(ready and theirs and rc == 0 and not errs and info.endpoint == want,
            f"{what}: ready, {node}'s pool published, registered with endpoint {want}, exit 0",
            [f"ready {ready}, {len(theirs)} slices, exit {rc}", f"{errs} {info}"] + d.tail(10))
    with srv.lock:
        for s in theirs:
            srv.slices.pop(s["metadata"]["name"], None)

k = kubelet.Kubelet()
try:
    info, errs = k.register(REGISTRY_DIR, DRIVER)
except Exception as e:  # grpc.RpcError and the like: the registration failed
    info, errs = None, [repr(e)]
t.check(not errs and info.endpoint == f"{PLUGIN_DIR}/dra.sock" and info.name == DRIVER and
        info.type == "DRAPlugin" and "v1.DRAPlugin" in info.supported_versions,
        f"registration: GetInfo says DRAPlugin {DRIVER} at {PLUGIN_DIR}/dra.sock, v1.DRAPlugin; "
        "NotifyRegistrationStatus accepted", errs + [f"{info}"])
try:
    t.check(k.prepare([]) == {}, "the endpoint answers NodePrepareResources (no claims)")
except Exception as e:
    t.not_ok("the endpoint answers NodePrepareResources (no claims)", [repr(e)])
    t.finish()

# ---- slices --------------------------------------------------------------------------------------
srv.wait_quiet(0.5)
check_slices(srv, "slices: every definition vbusctl lists, with its attributes and a DNS-label "
             "name; nothing vbus does not manage")
pub = published(srv)
kinds = {v[1]["attributes"].get("kind", {}).get("string") for v in pub.values()}
t.check({"mdev", "pci", "vf"} <= kinds, "slices: every kind the tree has (mdev, pci, vf)",
        [f"{sorted(k for k in kinds if k)}"])
owners = {n: s["metadata"].get("ownerReferences") for n, s in pool_slices(srv).items()}
t.check(all(o and len(o) == 1 and o[0].get("kind") == "Node" and o[0].get("name") == NODE and
            o[0].get("uid") == NODE_UID and o[0].get("apiVersion") == "v1"
            for o in owners.values()),
        "slices: owned by the Node (so they go when the node is deleted)", [f"{owners}"])
t.check("0000:04:00.0" not in pub and "0000:03:00.0-vf0" not in pub,
        "slices: devices vbus did not create and has no definition of are not published",
        [f"{sorted(pub)}"])
t.check(pub.get("upper-case-name", ("",))[0] == "upper-case-name" and
        pub.get("Upper.Case_Name", ("",))[0].startswith("upper-case-name-") and
        pub.get("x" * 64, ("",))[0] != "x" * 63,
        "slices: a name that is a label stays; one that is not gets the hash suffix (no "
        "collision); 64 characters are cut", [f"{n}: {pub.get(n, ('-',))[0]}" for n in
                                              ("upper-case-name", "Upper.Case_Name", "x" * 64)])
t.check(pub.get("disk:05") and pub["disk:05"][1]["attributes"].get("numaNode") == {"int": 1},
        "slices: numaNode from sysfs (int)", [f"{pub.get('disk:05')}"])

g0 = generation(srv)
vbusctl("define", "new1", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2", "--manual")
t0 = time.monotonic()
got = srv.wait_for(lambda: "new1" in published(srv) and pool_complete(srv) and
                   generation(srv) > g0, 5)
t.check(got, f"define through vbusctl: republished with a higher generation "
        f"({time.monotonic() - t0:.1f} s)", [f"generation {g0} -> {generation(srv)}"])
srv.wait_quiet(0.3)
check_slices(srv, "slices after the define equal the listing")
g1 = generation(srv)
vbusctl("undefine", "new1")
t0 = time.monotonic()
got = srv.wait_for(lambda: "new1" not in published(srv) and pool_complete(srv) and
                   generation(srv) > g1, 5)
t.check(got, f"undefine: republished without it, higher generation "
        f"({time.monotonic() - t0:.1f} s)", [f"generation {g1} -> {generation(srv)}"])

# More than 128: one generation over several slices, each within the limit.
defs = []
for p in sorted(glob.glob(sysfs("/etc/vbus/devices.d/*.json"))):
    with open(p) as f:
        defs.append(json.load(f))
many = [{"version": 1, "name": f"bulk-{i:03d}", "kind": "mdev", "parent": "mtty",
         "type": "mtty-1", "uuid": f"bbbbbbbb-0000-4000-8000-{i:012d}", "driver": "auto",
         "start": "manual"} for i in range(140)]
with open(f"{T}/many.json", "w") as f:
    json.dump(defs + many, f)
with open(f"{T}/few.json", "w") as f:
    json.dump(defs, f)
g2 = generation(srv)
t0 = time.monotonic()
vbusctl("apply", f"{T}/many.json")
total = len(defs) + len(many)
got = srv.wait_for(lambda: len(published(srv)) == total and pool_complete(srv) and
                   generation(srv) > g2, 10)
srv.wait_quiet(0.5)
ss = pool_slices(srv)
t.check(got and len(ss) == 2 and all(len(s["spec"]["devices"]) <= 128 for s in ss.values()) and
        {s["spec"]["pool"]["resourceSliceCount"] for s in ss.values()} == {2},
        f"{total} definitions: 2 slices of one generation, resourceSliceCount 2, each <= 128 "
        f"devices ({time.monotonic() - t0:.1f} s)",
        [f"{n}: {len(s['spec']['devices'])} devices, pool {s['spec']['pool']}"
         for n, s in sorted(ss.items())] + apiserver.pool_errors(list(ss.values())))
check_slices(srv, f"{total} definitions: the slices equal the listing")
g3 = generation(srv)
vbusctl("apply", f"{T}/few.json")
got = srv.wait_for(lambda: len(published(srv)) == len(defs) and pool_complete(srv) and
                   generation(srv) > g3, 10)
srv.wait_quiet(0.5)
ss = pool_slices(srv)
t.check(got and len(ss) == 1, "back to the few: one slice, the other deleted, higher generation",
        [f"{n}: {len(s['spec']['devices'])} devices, pool {s['spec']['pool']}"
         for n, s in sorted(ss.items())])

# ---- prepare -------------------------------------------------------------------------------------
pub = published(srv)
dn = {n: v[0] for n, v in pub.items()}
before = state()
before_overrides = overrides()
ck = f"{STATE_DIR}/checkpoint.json"

mon = open(f"{T}/monitor.out", "w+")
monitor = subprocess.Popen([VBUSCTL, "monitor"], stdout=mon,
                           stderr=open(f"{T}/monitor.err", "w"), text=True,
                           preexec_fn=die_with_us)
t.check(wait_until(lambda: "Monitoring" in (read(f"{T}/monitor.err") or ""), 10),
        "vbusctl monitor is watching (to see what a second prepare does)")

UID = {c: f"0000{i:04d}-aaaa-4bbb-8ccc-dddddddddddd" for i, c in enumerate(
    ["mdev", "pci", "bad", "running", "vf", "uid", "missing", "unknown", "admin",
     "partial"])}
srv.add_claim(NS, "c-mdev", UID["mdev"],
              [("vm", DRIVER, NODE, dn["m1"]),
               ("gpu", "gpu.example.com", NODE, dn["m4"]),
               ("far", DRIVER, "worker-2", dn["m4"])],
              [(["vm"], DRIVER, {**CONFIG, "driver": "vfio"}),
               (["gpu"], "gpu.example.com", {"anything": ["goes", "here"]})])
srv.add_claim(NS, "c-pci", UID["pci"], [("nic", DRIVER, NODE, dn["disk:05"])],
              [(["nic"], DRIVER, {**CONFIG, "driver": "vfio"})])
srv.add_claim(NS, "c-bad", UID["bad"], [("vm", DRIVER, NODE, dn["m3"])],
              [(["vm"], DRIVER, {**CONFIG, "driver": "vfio", "frobnicate": True})])
srv.add_claim(NS, "c-running", UID["running"], [("gpu", DRIVER, NODE, dn["gpu-desktop"])])
srv.add_claim(NS, "c-vf", UID["vf"], [("net", DRIVER, NODE, dn["nic-vf1"])])
srv.add_claim(NS, "c-uid", "ffffffff-0000-4000-8000-000000000000",
              [("vm", DRIVER, NODE, dn["m4"])])
srv.add_claim(NS, "c-admin", UID["admin"],
              [("vm", DRIVER, NODE, dn["m4"], {"adminAccess": True})])
srv.add_claim(NS, "c-partial", UID["partial"], [("a", DRIVER, NODE, dn["m6"]),
                                                 ("b", DRIVER, NODE, dn["ghost"])])
claim = {c: (NS, UID[c], f"c-{c}") for c in UID}


def cdi_for(name):
    """The CDI ids a runtime can resolve for NAME in the specs vbusd keeps."""
    return sorted(i for i in cdi_list() if i.split("=", 1)[1] == cdi_name(name))


def answer(name, request):
    return {"requests": [request], "pool": NODE, "device": dn[name], "cdi": cdi_for(name)}


def prepare(claims):
    try:
        return k.prepare([claim[c] for c in claims])
    except Exception as e:
        return {"grpc failure": repr(e)}


def unprepare(claims):
    try:
        return k.unprepare([claim[c] for c in claims])
    except Exception as e:
        return {"grpc failure": repr(e)}


m3_uuid = listing("--all")["m3"]["uuid"]
m4_uuid = listing("--all")["m4"]["uuid"]
r1 = prepare(["mdev", "pci", "bad"])
ok_mdev = r1.get(UID["mdev"]) == {"error": "", "devices": [answer("m1", "vm")]}
t.check(ok_mdev and mdev_present(M1_UUID),
        "prepare mdev claim (config vfio): m1 created in sysfs, answer = its device, the CDI "
        "ids vbusd's specs have for it", [f"{r1.get(UID['mdev'])}", f"want {answer('m1', 'vm')}",
                                           f"m1 present: {mdev_present(M1_UUID)}"])
t.check(not mdev_present(m4_uuid) and UID["mdev"] in r1,
        "prepare: the results of another driver and another pool are left alone (m4 not "
        "started), the other driver's opaque config ignored")
t.check(r1.get(UID["pci"]) == {"error": "", "devices": [
            {"requests": ["nic"], "pool": NODE, "device": dn["disk:05"],
             "cdi": ["vbus.dev/vfio=disk_05"]}]} and
        "vbus.dev/vfio=disk_05" in cdi_list() and bound("0000:05:00.0") == "vfio-pci" and
        read(os.path.join(pci_dir("0000:05:00.0"), "driver_override")) == "vfio-pci",
        "prepare pci claim (config vfio): 0000:05:00.0 on vfio-pci (driver_override), "
        "answer vbus.dev/vfio=disk_05 as in vbusd's CDI spec",
        [f"{r1.get(UID['pci'])}", f"bound {bound('0000:05:00.0')}", f"cdi {cdi_list()}"])
err = (r1.get(UID["bad"]) or {}).get("error", "")
t.check(err and "frobnicate" in err and not r1[UID["bad"]]["devices"] and
        not mdev_present(m3_uuid),
        "prepare with an unknown config field: that claim's error names it, m3 untouched, "
        "the other claims of the call prepared", [f"{r1.get(UID['bad'])}"])
t.check(len(r1) == 3 and "grpc failure" not in r1, "every claim of the call has its answer",
        [f"{r1}"])

gpu_before = listing("--all")["gpu-desktop"]
r2 = prepare(["running", "vf", "uid", "missing"])
t.check(r2.get(UID["running"]) == {"error": "", "devices": [answer("gpu-desktop", "gpu")]} and
        "vbus.dev/vfio=gpu-desktop" in cdi_for("gpu-desktop") and
        listing("--all")["gpu-desktop"] == gpu_before,
        "prepare a running, bound mdev: answer vbus.dev/vfio=gpu-desktop, nothing changed",
        [f"{r2.get(UID['running'])}"])
t.check(r2.get(UID["vf"]) == {"error": "", "devices": [
            {"requests": ["net"], "pool": NODE, "device": dn["nic-vf1"],
             "cdi": ["vbus.dev/vfio=nic-vf1"]}]} and bound("0000:03:01.1") == "vfio-pci",
        "prepare a VF with no config: its wanted driver vfio-pci, vbus.dev/vfio=nic-vf1",
        [f"{r2.get(UID['vf'])}", f"bound {bound('0000:03:01.1')}"])
t.check((r2.get(UID["uid"]) or {}).get("error") and not mdev_present(m4_uuid),
        "prepare a claim whose uid is not the server's: error, nothing done",
        [f"{r2.get(UID['uid'])}"])
t.check((r2.get(UID["missing"]) or {}).get("error"),
        "prepare a claim the server does not have: error", [f"{r2.get(UID['missing'])}"])

r3 = prepare(["admin"])
t.check((r3.get(UID["admin"]) or {}).get("error") == "" and
        [d["device"] for d in r3[UID["admin"]]["devices"]] == [dn["m4"]] and
        not mdev_present(m4_uuid),
        "prepare with adminAccess (monitoring a device in use): answered, m4 not started",
        [f"{r3}"])

m6_uuid = listing("--all")["m6"]["uuid"]
r4 = prepare(["partial"])
err = (r4.get(UID["partial"]) or {}).get("error", "")
t.check(err and ("ghost" in err or dn["ghost"] in err or "0000:0a:00.0" in err),
        "prepare a claim whose second device cannot be made (absent parent): that claim's "
        "error names it", [f"{r4}"])
t.diag(f"after the failed prepare, m6 (its first device) is "
       f"{'present' if mdev_present(m6_uuid) else 'absent'}")

ckpt = read(ck, "")
t.check(all(UID[c] in ckpt for c in ("mdev", "pci", "running", "vf")) and
        UID["bad"] not in ckpt, "the checkpoint holds the prepared claims (not the failed one)",
        [ckpt[:500]])

# Idempotence: the same calls again, the same answers, no event, the same checkpoint.
time.sleep(1.0)  # the events of the calls above are in (the monitor can lag)
mon.seek(0, 2)
events = mon.tell()
r1b = prepare(["mdev", "pci", "bad"])
r2b = prepare(["running", "vf"])
time.sleep(0.5)
mon.seek(events)
more = mon.read()
t.check(events > 0, "vbusctl monitor saw the first prepares (so it would see more)",
        [f"{events} bytes"])
t.check(r1b == r1 and r2b == {u: r2[u] for u in (UID["running"], UID["vf"])} and not more and
        read(ck, "") == ckpt,
        "prepare again: the same answers, no vbusd event, the checkpoint unchanged",
        [f"events: {more!r}"] + diff(r1, r1b) + diff({u: r2[u] for u in r2b}, r2b))

got = srv.wait_for(lambda: (published(srv).get("disk:05") or (0, {}))[1].get(
    "attributes", {}).get("boundDriver") == {"string": "vfio-pci"} and pool_complete(srv), 5)
t.check(got, "slices: the bound driver prepare changed is republished")

# ---- restart between prepare and unprepare -------------------------------------------------------
rc = dra.stop(signal.SIGTERM)
t.check(rc == 0, "SIGTERM: vbus-dra exits 0", [f"exit {rc}"] + dra.tail(10))
t.check(not os.path.exists(f"{REGISTRY_DIR}/{DRIVER}-reg.sock"),
        "SIGTERM: the registration socket is gone (kubelet's plugin watcher deregisters on that)",
        [f"{os.listdir(REGISTRY_DIR)}"])
t.check(pool_slices(srv), "SIGTERM: the slices stay")
dra = Dra(kubeconfig, "2")
ready = dra.wait_ready()
info, errs = k.register(REGISTRY_DIR, DRIVER) if ready else (None, ["not ready"])
t.check(ready and not errs, "restarted, registered again", errs + dra.tail())
mon.seek(0, 2)
events = mon.tell()
r2c = prepare(["running", "vf", "mdev"])
time.sleep(0.5)
mon.seek(events)
more = mon.read()
t.check(r2c == {UID["running"]: r2[UID["running"]], UID["vf"]: r2[UID["vf"]],
                UID["mdev"]: r1[UID["mdev"]]} and not more,
        "after the restart, prepare again (as kubelet does after its own restart): the same "
        "answers from the checkpoint, no vbusd event", [f"events: {more!r}", f"{r2c}"])
r = unprepare(["pci"])
t.check(r == {UID["pci"]: ""} and bound("0000:05:00.0") == "nvme" and
        listing("--all")["disk:05"]["bound_driver"] == "nvme",
        "after SIGTERM and a restart, unprepare pci: back on nvme",
        [f"{r}", f"bound {bound('0000:05:00.0')}"])
t.check(read(os.path.join(pci_dir("0000:05:00.0"), "driver_override")) in
        (before_overrides["0000:05:00.0"], "nvme"),
        "unprepare pci: driver_override as before (or the driver it had)",
        [read(os.path.join(pci_dir("0000:05:00.0"), "driver_override"))])

dra.stop(signal.SIGKILL)
dra = Dra(kubeconfig, "3")
ready = dra.wait_ready()
info, errs = k.register(REGISTRY_DIR, DRIVER) if ready else (None, ["not ready"])
t.check(ready and not errs, "after SIGKILL: restarted, registered again", errs + dra.tail())
r = unprepare(["mdev", "running", "vf", "bad", "unknown", "admin", "partial"])
t.check(r == {UID[c]: "" for c in ("mdev", "running", "vf", "bad", "unknown", "admin",
                                   "partial")},
        "after SIGKILL, unprepare the rest (a failed and an unknown claim included): no error",
        [f"{r}"])
t.check(not mdev_present(M1_UUID), "unprepare mdev: m1 removed (prepare had started it)")
t.check(not mdev_present(m6_uuid), "unprepare the claim whose prepare failed half-way: m6 "
        "is not left behind")
t.check(listing("--all")["gpu-desktop"] == gpu_before,
        "unprepare the running mdev: still running and bound (prepare had not started it)")
t.check(bound("0000:03:01.1") is None, "unprepare vf: unbound again, as before prepare",
        [f"bound {bound('0000:03:01.1')}"])
r = unprepare(["mdev", "pci"])
t.check(r == {UID["mdev"]: "", UID["pci"]: ""}, "unprepare twice: no error", [f"{r}"])

# ---- nothing left behind -------------------------------------------------------------------------
after = state()
d = diff(before, after)
t.check(not d, "no leak: listing, definitions, drivers, mdevs and instances as before prepare", d)
ckpt = read(ck, "{}")
try:
    json.loads(ckpt)
    parsed = True
except ValueError:
    parsed = False
t.check(parsed and not any(u in ckpt for u in UID.values()),
        "the checkpoint is JSON and holds no claim", [ckpt[:500]])
srv.wait_quiet(0.5)
got = srv.wait_for(lambda: pool_complete(srv), 5)
check_slices(srv, "slices at the end equal the listing")
t.check(not srv.violations, "the API server refused nothing vbus-dra wrote (422 or a "
        "generation going down)", srv.violations[:20])
t.check(not srv.unauthorized, "every request of vbus-dra carried the bearer token",
        [f"{srv.unauthorized[:5]}"])
monitor.terminate()
rc = dra.stop(signal.SIGTERM)
t.check(rc == 0, "SIGTERM at the end: exit 0", [f"exit {rc}"] + dra.tail(10))

# A damaged checkpoint: vbus-dra does not start (it could not undo what it prepared), and says
# which file and why.
good = read(ck, "")
with open(ck, "w") as f:
    f.write('{"version": 1, "claims": {')
d = Dra(kubeconfig, "damaged")
rc = d.stop(signal.SIGTERM, timeout=10) if wait_until(lambda: d.proc.poll() is not None or
                                                      d.ready.is_set(), 10) else None
t.check(not d.ready.is_set() and rc not in (0, None) and any(ck in line for line in d.lines),
        "a damaged checkpoint: vbus-dra refuses to start (exit != 0) and names the file",
        [f"exit {rc}"] + d.tail(5))
if d.proc.poll() is None:
    d.stop(signal.SIGKILL)
with open(ck, "w") as f:
    f.write(good)

# ---- create on demand (--partitionable, KEP 4815) ------------------------------------------------
# The mtty parent's types as counters and as devices that could be made; prepare makes one
# (vbusd Create, transient), unprepare removes it; nothing else changes.
mtty_types = sysfs("/sys/class/mdev_bus/mtty/mdev_supported_types")
avail = {ty: int(read(f"{mtty_types}/{ty}/available_instances"))
         for ty in sorted(os.listdir(mtty_types))}
before = state()
srv.violations.clear()
dra = Dra(kubeconfig, "5", extra=["--partitionable"])
ready = dra.wait_ready()
t.check(ready, "--partitionable: ready", dra.tail())
srv.wait_quiet(0.5)
ss = pool_slices(srv)
errs = apiserver.pool_errors(list(ss.values())) + srv.violations
t.check(ready and not errs and any(s["spec"].get("sharedCounters") for s in ss.values()),
        "--partitionable: slices with counter sets and counter-consuming devices, valid for "
        "resource.k8s.io/v1 (64 a slice, sets in slices of their own, every consumed counter "
        "in the pool)", errs[:20] + [f"{n}: {len(s['spec'].get('devices') or [])} devices, "
                                      f"{len(s['spec'].get('sharedCounters') or [])} sets"
                                      for n, s in sorted(ss.items())])
sets = counter_sets(srv)
mtty_set = [n for n in sets if n.startswith("counters-") and "mtty" in n]
t.check(len(mtty_set) == 1 and {k: v["value"] for k, v in sets[mtty_set[0]].items()} ==
        {ty: str(n) for ty, n in avail.items()},
        "--partitionable: mtty's counter set: one counter per type, its available instances",
        [f"{sets}", f"sysfs: {avail}"])
od = on_demand(srv)
per_type = {}
for name, d in od.items():
    a = d["attributes"]
    if a.get("parent") == {"string": "mtty"}:
        ty = a.get("type", {}).get("string")
        per_type[ty] = per_type.get(ty, 0) + 1
        cons = d.get("consumesCounters") or []
        if not (len(cons) == 1 and mtty_set and cons[0]["counterSet"] == mtty_set[0] and
                cons[0]["counters"] == {ty: {"value": "1"}} and
                a.get("kind") == {"string": "mdev"}):
            per_type.setdefault("bad", []).append(name)
t.check(per_type == {ty: min(n, 16) for ty, n in avail.items() if n > 0},
        "--partitionable: per mtty type min(available, 16) devices, each consuming 1 of its "
        "type's counter", [f"{per_type}", f"available {avail}"])
check_slices(srv, "--partitionable: the defined devices are published as before")

target = sorted(n for n, d in od.items() if d["attributes"].get("type") ==
                {"string": "mtty-2"})[:1]
if target:
    devname = target[0]
    srv.add_claim(NS, "c-od", UID["unknown"], [("vm", DRIVER, NODE, devname)])
    mdevs0 = set(os.listdir(sysfs("/sys/bus/mdev/devices")))
    r = k.prepare([(NS, UID["unknown"], "c-od")])
    made = set(os.listdir(sysfs("/sys/bus/mdev/devices"))) - mdevs0
    now = int(read(f"{mtty_types}/mtty-2/available_instances"))
    defs_now = sorted(os.listdir(sysfs("/etc/vbus/devices.d")))
    t.check(r.get(UID["unknown"], {}).get("error") == "" and
            [d["device"] for d in r[UID["unknown"]]["devices"]] == [devname] and
            len(made) == 1 and now == avail["mtty-2"] - 1 and
            defs_now == sorted(before["definitions"]),
            f"--partitionable: prepare {devname}: one mtty-2 mdev made, no definition stored",
            [f"{r}", f"made {made}", f"instances {now}", f"definitions {defs_now}"])
    r = k.unprepare([(NS, UID["unknown"], "c-od")])
    t.check(r == {UID["unknown"]: ""} and
            set(os.listdir(sysfs("/sys/bus/mdev/devices"))) == mdevs0,
            f"--partitionable: unprepare {devname}: the mdev is removed", [f"{r}"])
else:
    t.not_ok("--partitionable: an mtty-2 device to make on demand is published", [f"{od}"])
rc = dra.stop(signal.SIGTERM)
d = diff(before, state())
t.check(rc == 0 and not d, "--partitionable: exit 0, and the host as before", d)
t.check(not srv.violations and not srv.unauthorized, "--partitionable: the API server refused "
        "nothing, every request had the token", srv.violations[:10] + srv.unauthorized[:5])

# ---- resync: what others do to the slices is repaired; failed writes are retried -------------
dra = Dra(kubeconfig, "6", extra=["--publish-interval", "2"])
ready = dra.wait_ready()
t.check(ready, "--publish-interval 2: ready", dra.tail())
srv.wait_quiet(0.5)
with srv.lock:  # what kubelet's wipe at its start does (DeleteCollection of the node's slices)
    for n in list(pool_slices(srv)):
        del srv.slices[n]
t0 = time.monotonic()
got = srv.wait_for(lambda: pool_complete(srv) and len(published(srv)) == len(defs), 6)
t.check(got, f"slices deleted behind its back are published again by the resync "
        f"({time.monotonic() - t0:.1f} s)", [f"{sorted(pool_slices(srv))}"])
srv.wait_quiet(0.5)
with srv.lock:  # someone else's update: a device gone, a new resourceVersion
    name = sorted(pool_slices(srv))[0]
    victim = srv.slices[name]["spec"]["devices"].pop()["name"]
    srv.rv += 1
    srv.slices[name]["metadata"]["resourceVersion"] = str(srv.rv)
t0 = time.monotonic()
got = srv.wait_for(lambda: victim in {v[0] for v in published(srv).values()} and
                   pool_complete(srv), 6)
t.check(got, f"a slice changed behind its back (new resourceVersion) is repaired "
        f"({time.monotonic() - t0:.1f} s)", [f"{victim} missing"] + dra.tail(5))
with srv.lock:
    srv.fail_next += [("PUT", "resourceslices", 500), ("POST", "resourceslices", 500)]
vbusctl("define", "late", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2", "--manual")
t0 = time.monotonic()
got = srv.wait_for(lambda: "late" in published(srv) and pool_complete(srv), 8)
t.check(got, f"a write the server fails (500) is retried: the new definition is published "
        f"({time.monotonic() - t0:.1f} s)", dra.tail(5))
vbusctl("undefine", "late")
got = srv.wait_for(lambda: "late" not in published(srv) and pool_complete(srv), 5)
srv.wait_quiet(0.5)
check_slices(srv, "after the resync checks: the slices equal the listing")
rc = dra.stop(signal.SIGTERM)
t.check(rc == 0 and not srv.violations and not srv.unauthorized,
        "exit 0; the API server refused nothing, every request had the token",
        [f"exit {rc}"] + srv.violations[:10] + srv.unauthorized[:5])
if t.failed:
    t.diag("vbus-dra's last log lines:")
    t.diag("\n".join(dra.tail(40)))
srv.stop()
t.finish()
