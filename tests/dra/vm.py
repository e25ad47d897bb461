#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vbus-dra on the real kernel, inside tests/vm/run (called by tests/vm/dra.sh, which loaded the
modules, started the bus and vbusd and defined s1, v1, n1, m1 and vf1 unstarted). The stand-in
API server and kubelet of this directory drive the real vbus-dra with --partitionable; what is
checked is what the kernel shows: `devlink port`, `vdpa dev`, sysfs of the virtbus, mdev and PCI
buses, the CDI ids vbusd's specs resolve.

Environment: T (a tmpfs dir), SRC, VBUS_DRA, VBUSCTL, PF (the SR-IOV PF), DBUS_SYSTEM_BUS_ADDRESS,
TAP_FIRST (the number of the checks before), DRA_VM_COUNTS (file: "passed failed" at the end).
"""
import glob
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver  # noqa: E402
import harness  # noqa: E402
import kubelet  # noqa: E402
import tap  # noqa: E402

T = os.environ["T"]
SRC = os.environ["SRC"]
VBUS_DRA = os.environ["VBUS_DRA"]
VBUSCTL = os.environ["VBUSCTL"]
PF = os.environ["PF"]
BUS = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
NODE = "vm-node"
DRIVER = "vbus.dev"
NS = "default"
CONFIG = {"apiVersion": "vbus.dev/v1", "kind": "DeviceConfig"}
SIM = "vbus_sim/vbus_sim1"
CAPACITY = 16  # vbus-dra's offer per SF parent and vDPA management device (vbus-dra(8))

t = tap.Tap()
t.n = int(os.environ.get("TAP_FIRST", "0"))
first = t.n


def done():
    with open(os.environ["DRA_VM_COUNTS"], "w") as f:
        f.write(f"{t.n - first - t.failed} {t.failed}\n")
    for d in harness.Dra.all:
        if d.proc.poll() is None:
            d.proc.kill()
    sys.exit(1 if t.failed else 0)


harness.on_crash(t, done)


run = harness.run


def vbusctl(*args):
    return run(VBUSCTL, *args)


def listing():
    return harness.listing(VBUSCTL, "--all")


def cdi_list():
    return harness.cdi_list(VBUSCTL)


def cdi_for(name, ids):
    """The CDI ids of NAME among IDS (vbusd's specs; lib/cdi.c's name rule)."""
    s = name.replace(":", "_")
    return sorted(i for i in ids if i.split("=", 1)[1] == s)


def driver_of(path):
    link = os.path.join(path, "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def sf_ports():
    """(devlink handle, sfnum) -> port as `devlink -j port show` says."""
    ports = json.loads(run("devlink", "-j", "port", "show") or '{"port": {}}')["port"]
    return {(k.rsplit("/", 1)[0], p["sfnum"]): p for k, p in ports.items() if "sfnum" in p}


def sf_state(sfnum, ports):
    p = ports.get((SIM, sfnum))
    return p and p.get("function", {}).get("state")


def sf_aux(sfnum, entries):
    """vbus_sim's auxiliary device of SF SFNUM (as vbusctl lists it)."""
    for e in entries.values():
        if e.get("kind") == "sf" and e.get("parent") == SIM and e.get("index") == sfnum:
            return e.get("sysfs_path")
    return None


def vdpa_devs():
    """vdpa device name -> its `vdpa -j dev show` entry."""
    return json.loads(run("vdpa", "-j", "dev", "show") or '{"dev": {}}').get("dev", {})


def numvfs():
    return int(open(f"/sys/bus/pci/devices/{PF}/sriov_numvfs").read())


def vf_driver(i):
    link = f"/sys/bus/pci/devices/{PF}/virtfn{i}"
    return driver_of(os.path.realpath(link)) if os.path.exists(link) else "(no VF)"


def host():
    """What the host shows: SF ports, vDPA devices, virtbus devices, mdevs (each with its
    driver), the PF's VFs, the definitions and vbusd's listing (name, active, driver)."""
    defs = {}
    for p in sorted(glob.glob("/etc/vbus/devices.d/*.json")):
        with open(p) as f:
            defs[os.path.basename(p)] = json.load(f)
    return {
        "sf ports": sorted(f"{h} sfnum {n} {p.get('function', {}).get('state')}"
                           for (h, n), p in sf_ports().items()),
        "vdpa": {n: driver_of(f"/sys/bus/vdpa/devices/{n}") for n in vdpa_devs()},
        "virtbus": {n: driver_of(f"/sys/bus/virtbus/devices/{n}")
                    for n in sorted(os.listdir("/sys/bus/virtbus/devices"))},
        "mdev": {n: driver_of(f"/sys/bus/mdev/devices/{n}")
                 for n in sorted(os.listdir("/sys/bus/mdev/devices"))},
        "numvfs": numvfs(),
        "definitions": defs,
        "listing": {n: (e.get("active"), e.get("bound_driver")) for n, e in listing().items()},
    }


def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += diff(a.get(k), b.get(k), f"{path}/{k}")
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)} -> {json.dumps(b)}"]


# ---- vbus-dra, the API server, the kubelet ------------------------------------------------------
for sub in ("plugins", "registry", "state", "stubs"):
    os.makedirs(f"{T}/{sub}", exist_ok=True)
t0 = time.monotonic()
srv = apiserver.ApiServer(T).start()
kubeconfig = srv.kubeconfig(f"{T}/kubeconfig")
t.diag(f"API server with its certificates: {time.monotonic() - t0:.1f} s")
stubs = os.environ.get("STUBS", "")
if stubs and os.path.isdir(f"{stubs}/dra"):  # made on the host by meson
    kubelet.import_protos(f"{SRC}/dra/proto", stubs)
else:
    kubelet.compile_protos(f"{SRC}/dra/proto", f"{T}/stubs")
errs = kubelet.check_protos()
t.check(not errs, f"stand-ins up: API server, kubelet stubs ({time.monotonic() - t0:.1f} s)",
        errs)
ARGV = ["--node-name", NODE, "--driver-name", DRIVER, "--plugin-dir", f"{T}/plugins",
        "--registry-dir", f"{T}/registry", "--state-dir", f"{T}/state", "--bus-address", BUS,
        "--kubeconfig", kubeconfig, "--partitionable"]
n_dra = 0


def start_dra():
    global n_dra
    n_dra += 1
    d = harness.Dra(VBUS_DRA, ARGV, f"{T}/vbus-dra-{n_dra}.log")
    t0 = time.monotonic()
    ready = d.wait_ready(60)
    k = kubelet.Kubelet(timeout=180)
    info, errs = k.register(f"{T}/registry", DRIVER) if ready else (None, ["not ready"])
    t.check(ready and not errs, f"vbus-dra {n_dra} (--partitionable): ready and registered "
            f"({time.monotonic() - t0:.1f} s)", errs + d.tail(20))
    return d, k


dra, k = start_dra()
srv.wait_quiet(1.0, timeout=30)


def pool():
    return harness.published(srv, NODE, DRIVER), harness.on_demand(srv, NODE, DRIVER), \
        harness.counter_sets(srv, NODE, DRIVER)


pub, od, sets = pool()
kinds = {n: (v[1]["attributes"].get("kind") or {}).get("string") for n, v in pub.items()}
want = {"s1": "sf", "v1": "vdpa", "n1": "virtbus", "m1": "mdev", "vf1": "vf"}
t.check(all(kinds.get(n) == k_ for n, k_ in want.items()),
        "slices: the definitions s1 (sf), v1 (vdpa), n1 (virtbus), m1 (mdev), vf1 (vf)",
        [f"{kinds}"])
errs = apiserver.pool_errors(list(harness.pool_slices(srv, NODE, DRIVER).values())) + \
    srv.violations
t.check(not errs, "slices: a valid resource.k8s.io/v1 pool (counter sets, consuming devices)",
        errs[:20])


def offers(kind, parent, typ=None):
    return sorted(n for n, d in od.items()
                  if d["attributes"].get("kind") == {"string": kind} and
                  d["attributes"].get("parent") == {"string": parent} and
                  (typ is None or d["attributes"].get("type") == {"string": typ}))


def counter(parent_part, name):
    for s, c in sets.items():
        if parent_part in s and name in c:
            return c[name]["value"]
    return None


# What the kernel has: 1 SF (s1, defined) on vbus_sim1, 1 vDPA (v1) on vdpasim_net.
sf_offers = offers("sf", SIM)
t.check(len(sf_offers) == CAPACITY - 1 and counter("vbus-sim", "sf") == str(CAPACITY - 1) and
        all(od[n]["consumesCounters"][0]["counters"] == {"sf": {"value": "1"}}
            for n in sf_offers),
        f"--partitionable: SF parent {SIM}: counter sf = {CAPACITY - 1} ({CAPACITY} minus s1), "
        f"{CAPACITY - 1} SFs to make, each consuming 1", [f"{sf_offers}", f"{sets}"])
vdpa_offers = offers("vdpa", "vdpasim_net", "net")
t.check(len(vdpa_offers) == CAPACITY - 1 and
        counter("vdpasim", "devices") == str(CAPACITY - 1),
        f"--partitionable: vDPA vdpasim_net: counter devices = {CAPACITY - 1}, net devices to "
        "make", [f"{vdpa_offers}", f"{sets}"])
vb_offers = offers("virtbus", SIM, "net")
avail = open("/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim1/types/net/available_instances").read()
avail = int(avail)
t.check(vb_offers and all(len(n) <= 31 for n in vb_offers) and
        counter("vbus-sim", "net") == str(avail),
        "--partitionable: virtbus vbus_sim1 net: counter = the mgmtdev's available_instances, "
        "names within the kernel's 31 characters", [f"{vb_offers}", f"available {avail}"])
mdev_offers = offers("mdev", "mtty", "mtty-1")
t.check(mdev_offers, "--partitionable: mtty-1 mdevs to make", [f"{sorted(od)[:10]}"])

# ---- prepare: the five definitions and four devices made on demand, in one call -------------
dn = {n: v[0] for n, v in pub.items()}
before = host()
UID = {c: f"0000{i:04d}-aaaa-4bbb-8ccc-dddddddddddd" for i, c in enumerate(
    ["sf", "vdpa", "virtbus", "mdev", "vf", "od-sf", "od-vdpa", "od-virtbus", "od-mdev"])}
dev = {"sf": dn.get("s1"), "vdpa": dn.get("v1"), "virtbus": dn.get("n1"), "mdev": dn.get("m1"),
       "vf": dn.get("vf1"), "od-sf": sf_offers[0], "od-vdpa": vdpa_offers[0],
       "od-virtbus": vb_offers[0] if vb_offers else None,
       "od-mdev": mdev_offers[0] if mdev_offers else None}
cfg = {"sf": "host", "vdpa": "vfio", "virtbus": "vbus_sim_net", "mdev": "vfio", "vf": "vfio",
       "od-vdpa": "vfio"}
for c, u in UID.items():
    srv.add_claim(NS, f"c-{c}", u, [("r", DRIVER, NODE, dev[c])],
                  [(["r"], DRIVER, {**CONFIG, "driver": cfg[c]})] if c in cfg else [])
claims = [(NS, UID[c], f"c-{c}") for c in UID]
mdevs0 = set(os.listdir("/sys/bus/mdev/devices"))
m1_uuid = listing()["m1"]["uuid"]

t0 = time.monotonic()
r1 = k.prepare(claims)
t.check(all(r1.get(u, {}).get("error") == "" and
            [d["device"] for d in r1[u]["devices"]] == [dev[c]] for c, u in UID.items()),
        f"prepare 9 claims in one call: no error, each answers its device "
        f"({time.monotonic() - t0:.1f} s)", [f"{c}: {r1.get(u)}" for c, u in UID.items()] +
        dra.tail(15))
ans = {c: (r1.get(u, {}).get("devices") or [{}])[0] for c, u in UID.items()}

# What the kernel and vbusd show now, once (every process is slow under TCG).
ids, now, ports, vd = cdi_list(), listing(), sf_ports(), vdpa_devs()
# s1: SF 5, active, its auxiliary device on vbus_sim's driver (config host)
aux = sf_aux(5, now)
t.check(sf_state(5, ports) == "active" and aux and driver_of(aux) and
        ans["sf"].get("cdi") == [],
        f"prepare s1: `devlink port` shows {SIM} sfnum 5 active, its auxiliary device bound "
        f"(host: {driver_of(aux) if aux else None}), no CDI id",
        [f"state {sf_state(5, ports)}", f"aux {aux}", f"{ans['sf']}"])
# v1: vhost_vdpa (config vfio), its CDI id
t.check("v1" in vd and driver_of("/sys/bus/vdpa/devices/v1") == "vhost_vdpa" and
        glob.glob("/sys/bus/vdpa/devices/v1/vhost-vdpa-*") and
        ans["vdpa"].get("cdi") == ["vbus.dev/vhost-vdpa=v1"] == cdi_for("v1", ids),
        "prepare v1: `vdpa dev` shows v1 on vhost_vdpa (config vfio), CDI vbus.dev/vhost-vdpa=v1 "
        "as vbusd's spec has it", [f"{sorted(vd)}", f"{ans['vdpa']}", f"{cdi_for('v1', ids)}"])
# n1: vbus_sim_net (config; the definition says none)
t.check(driver_of("/sys/bus/virtbus/devices/vbus_sim1.n1") == "vbus_sim_net" and
        ans["virtbus"].get("cdi") == [],
        "prepare n1: /sys/bus/virtbus/devices/vbus_sim1.n1 bound to vbus_sim_net (the claim's "
        "config; the definition says none)",
        [f"{driver_of('/sys/bus/virtbus/devices/vbus_sim1.n1')}", f"{ans['virtbus']}"])
# m1: its mdev, CDI as vbusd's spec says
t.check(os.path.exists(f"/sys/bus/mdev/devices/{m1_uuid}") and
        driver_of(f"/sys/bus/mdev/devices/{m1_uuid}") == "mtty" and
        ans["mdev"].get("cdi") == cdi_for("m1", ids) == ["vbus.dev/vfio=m1"],
        f"prepare m1: mdev {m1_uuid} on mtty, CDI vbus.dev/vfio=m1 as vbusd's spec has it",
        [f"{ans['mdev']}", f"{cdi_for('m1', ids)}"])
# vf1: VFs made, VF 1 on vfio-pci
t.check(numvfs() == 2 and vf_driver(1) == "vfio-pci" and
        ans["vf"].get("cdi") == ["vbus.dev/vfio=vf1"] == cdi_for("vf1", ids),
        f"prepare vf1: {PF} has 2 VFs, VF 1 on vfio-pci, CDI vbus.dev/vfio=vf1",
        [f"numvfs {numvfs()}, VF 1 {vf_driver(1)}", f"{ans['vf']}"])
# made on demand
made = {c: dev[c] in now and now[dev[c]].get("active") and not now[dev[c]].get("defined")
        for c in ("od-sf", "od-vdpa", "od-virtbus")}
od_sf = now.get(dev["od-sf"], {})
t.check(made["od-sf"] and od_sf.get("index") == 0 and sf_state(0, ports) == "active",
        f"prepare {dev['od-sf']}: an SF made on demand with the lowest free SF number (0), "
        "active in `devlink port`, transient", [f"{od_sf}", f"{sorted(ports)}"])
odv = dev["od-vdpa"]
t.check(made["od-vdpa"] and odv in vd and
        driver_of(f"/sys/bus/vdpa/devices/{odv}") == "vhost_vdpa" and
        ans["od-vdpa"].get("cdi") == [f"vbus.dev/vhost-vdpa={odv}"] == cdi_for(odv, ids),
        f"prepare {odv}: `vdpa dev` shows it, on vhost_vdpa (config vfio), its CDI id",
        [f"{sorted(vd)}", f"{ans['od-vdpa']}"])
odn = dev["od-virtbus"]
t.check(made["od-virtbus"] and
        driver_of(f"/sys/bus/virtbus/devices/vbus_sim1.{odn}") == "vbus_sim_net",
        f"prepare {odn}: /sys/bus/virtbus/devices/vbus_sim1.{odn} on vbus_sim_net",
        [f"{now.get(odn)}"])
new_mdevs = set(os.listdir("/sys/bus/mdev/devices")) - mdevs0 - {m1_uuid}
t.check(len(new_mdevs) == 1 and all(os.path.basename(os.readlink(
    f"/sys/bus/mdev/devices/{u}/mdev_type")) == "mtty-1" for u in new_mdevs),
        f"prepare {dev['od-mdev']}: one mtty-1 mdev made", [f"{new_mdevs}"])
t.check(sorted(os.listdir("/etc/vbus/devices.d")) == sorted(before["definitions"]),
        "prepare: no definition stored (the made devices are transient)",
        [f"{sorted(os.listdir('/etc/vbus/devices.d'))}"])
ckpt = open(f"{T}/state/checkpoint.json").read()
t.check(all(u in ckpt for u in UID.values()), "the checkpoint holds the 9 claims")

# republished: the SF made is a device of the pool now, the sf counter one less
def counter_now(parent_part, name):
    for s, c in harness.counter_sets(srv, NODE, DRIVER).items():
        if parent_part in s and name in c:
            return c[name]["value"]
    return None


got = srv.wait_for(lambda: dev["od-sf"] in harness.published(srv, NODE, DRIVER) and
                   counter_now("vbus-sim", "sf") == str(CAPACITY - 2), 15)
t.check(got, f"republished: {dev['od-sf']} is a device of the pool, counter sf "
        f"{CAPACITY - 2}", [f"{counter_now('vbus-sim', 'sf')}"])

# ---- idempotence, then a restart between prepare and unprepare --------------------------------
prepared = host()
r2 = k.prepare(claims)
d = diff(prepared, host())
t.check(r2 == r1 and not d, "prepare again: the same answers, the kernel unchanged",
        diff(r1, r2) + d)
rc = dra.stop(signal.SIGKILL)
dra, k = start_dra()
r3 = k.prepare(claims)
d = diff(prepared, host())
t.check(r3 == r1 and not d,
        "after SIGKILL and a restart: prepare answers the same from the checkpoint, the kernel "
        "unchanged", diff(r1, r3) + d)

# ---- unprepare: everything as before -----------------------------------------------------------
t0 = time.monotonic()
r4 = k.unprepare(claims)
t.check(r4 == {u: "" for u in UID.values()},
        f"unprepare the 9 claims (by the restarted vbus-dra): no error "
        f"({time.monotonic() - t0:.1f} s)", [f"{r4}"] + dra.tail(15))
after = host()
ports = sf_ports()
t.check(sf_state(5, ports) is None and sf_state(0, ports) is None,
        "unprepare: `devlink port` has neither SF 5 (s1 stopped) nor SF 0 (removed)",
        after["sf ports"])
t.check("v1" not in after["vdpa"] and odv not in after["vdpa"],
        "unprepare: `vdpa dev` has neither v1 nor the one made on demand", [f"{after['vdpa']}"])
t.check(not set(after["virtbus"]) & {"vbus_sim1.n1", f"vbus_sim1.{odn}"},
        "unprepare: the virtbus devices are gone", [f"{after['virtbus']}"])
t.check(set(after["mdev"]) == mdevs0 and after["numvfs"] == 0,
        "unprepare: the mdevs as before, the PF without VFs", [f"{after['mdev']}",
                                                                f"numvfs {after['numvfs']}"])
d = diff(before, after)
t.check(not d, "no leak: ports, vDPA, virtbus, mdevs, VFs, definitions and listing as before "
        "prepare", d)
r5 = k.unprepare(claims)
d = diff(after, host())
t.check(r5 == r4 and not d, "unprepare again: no error, nothing changes", [f"{r5}"] + d)

# ---- a port made by hand, and a create the kernel refuses -------------------------------------
# A foreign SF port (sfnum 0, not vbus's): the next SF made on demand takes sfnum 1 and the
# foreign one is never touched. vbus_sim's fail_next_dev_new: the kernel refuses the virtbus
# device; that claim fails with the kernel's message, nothing is left.
run("devlink", "port", "add", SIM, "flavour", "pcisf", "pfnum", "0", "sfnum", "0")

# vbusd follows devlink's "config" group: the port (its function never activated, so no uevent)
# is in its listing, as vbusctl --direct lists it.
t0 = time.monotonic()
hand = harness.wait_until(lambda: [e for e in listing().values() if e.get("kind") == "sf" and
                           e.get("parent") == SIM and e.get("index") == 0], 10)
t.check(hand and not hand[0].get("defined"),
        f"the port made by hand is in vbusd's listing within 10 s "
        f"({time.monotonic() - t0:.1f} s; no uevent: its function is inactive)",
        [f"{sorted(listing())}"])
got = srv.wait_for(lambda: {dev["od-sf"], dev["od-virtbus"]} <=
                   set(harness.on_demand(srv, NODE, DRIVER)), 15)
t.check(got, "after unprepare the devices made on demand are offered again",
        [f"{sorted(harness.on_demand(srv, NODE, DRIVER))[:20]}"])
with open("/sys/kernel/debug/vbus_sim/vbus_sim1/fail_next_dev_new", "w") as f:
    f.write("28\n")
U2 = {"sf2": "00000100-aaaa-4bbb-8ccc-dddddddddddd",
      "vb2": "00000101-aaaa-4bbb-8ccc-dddddddddddd"}
srv.add_claim(NS, "c-sf2", U2["sf2"], [("r", DRIVER, NODE, dev["od-sf"])])
srv.add_claim(NS, "c-vb2", U2["vb2"], [("r", DRIVER, NODE, dev["od-virtbus"])])
claims2 = [(NS, U2[c], f"c-{c}") for c in U2]
r6 = k.prepare(claims2)
now, ports = listing(), sf_ports()
t.check(r6.get(U2["sf2"], {}).get("error") == "" and
        (now.get(dev["od-sf"]) or {}).get("index") == 1 and
        sf_state(1, ports) == "active" and sf_state(0, ports) == "inactive",
        f"a foreign SF port with sfnum 0: {dev['od-sf']} is made with sfnum 1, the foreign port "
        "stays inactive", [f"{r6.get(U2['sf2'])}", f"{now.get(dev['od-sf'])}",
                           f"{sorted(ports)}"])
err = r6.get(U2["vb2"], {}).get("error", "")
t.check(err and dev["od-virtbus"] in err and "Injected failure" in err and
        not os.path.exists(f"/sys/bus/virtbus/devices/vbus_sim1.{dev['od-virtbus']}") and
        dev["od-virtbus"] not in now and
        U2["vb2"] not in json.load(open(f"{T}/state/checkpoint.json")).get("claims", {}),
        "a create the kernel refuses: that claim's error names the device and has the kernel's "
        "message, no device, not in the checkpoint", [f"{r6.get(U2['vb2'])}"])
r7 = k.unprepare(claims2)
ports = sf_ports()
t.check(r7 == {u: "" for u in U2.values()} and sf_state(1, ports) is None and
        sf_state(0, ports) == "inactive",
        "unprepare: SF 1 removed, the foreign port untouched", [f"{r7}", f"{sorted(ports)}"])
raw = json.loads(run("devlink", "-j", "port", "show"))["port"]
for key, p in raw.items():
    if p.get("sfnum") == 0 and key.startswith(SIM + "/"):
        run("devlink", "port", "del", key)
t0 = time.monotonic()
now = harness.wait_until(lambda: (lambda h: h if not diff(before, h) else None)(host()), 10) or host()
d = diff(before, now)
t.check(not d, "the foreign port deleted by hand: ports, vDPA, virtbus, mdevs, VFs, "
        f"definitions and vbusd's listing as before the first prepare within 10 s "
        f"({time.monotonic() - t0:.1f} s)", d)

ckpt = json.load(open(f"{T}/state/checkpoint.json"))
t.check(not ckpt.get("claims"), "the checkpoint holds no claim", [f"{ckpt}"])
t.check(not srv.violations and not srv.unauthorized,
        "the API server refused nothing vbus-dra wrote, every request had the token",
        srv.violations[:10] + srv.unauthorized[:5])
rc = dra.stop(signal.SIGTERM, timeout=30)
t.check(rc == 0 and not any("Sanitizer" in line or "runtime error" in line
                            for d_ in harness.Dra.all for line in d_.lines),
        "vbus-dra exits 0 on SIGTERM; no sanitizer report", [f"exit {rc}"] + dra.tail(10))
srv.stop()
done()
