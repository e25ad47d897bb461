#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Load: LOAD_CLIENTS (8) processes, each on its own bus connection, doing LOAD_OPS (10000) mixed
calls in all (listings, policy picks, defines, modifies, undefines of their own definitions, and
races on shared names). Every call must be answered (a result or an org.vbus1.Error), each
client's own definitions must end as it left them, the shared names must show serialized
effects (successful defines minus undefines is 0 or 1 and matches the file), and vbusd's memory
must stay bounded: VmRSS after the second half within LOAD_RSS_GROWTH_KB of the first half, and
no leak when it stops (the dev build runs it under ASan). TAP.
Usage: load.py VBUSD VBUSCTL SRCDIR VBUSD_FAKE_KERNEL"""
import json
import multiprocessing as mp
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, error_name, sv, list_devices  # noqa: E402

VBUSD, VBUSCTL, SRC, VBUSD_FK = sys.argv[1:5]
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "8"))
OPS = int(os.environ.get("LOAD_OPS", "10000"))
GROWTH_KB = int(os.environ.get("LOAD_RSS_GROWTH_KB", "8192"))
SHARED = [f"shared{k}" for k in range(4)]
DRIVERS = ["auto", "vfio", "none", "host"]
tap = Tap()
env = Env(SRC)


def client(idx, n_ops, phase, own_in, q):
    rng = random.Random(idx * 1000 + phase)
    bus = dbus.bus.BusConnection(env.address)
    mgr = dbus.Interface(bus.get_object("org.vbus1", "/org/vbus1", introspect=False),
                         "org.vbus1.Manager")
    own = dict(own_in)  # name -> driver
    res = {"calls": 0, "answered": 0, "errors": {}, "unanswered": [], "own_failed": [],
           "shared": {n: [0, 0] for n in SHARED}, "latency_max": 0.0}
    k = len(own) + phase * 10000
    for _ in range(n_ops):
        r = rng.random()
        kind = "read"
        if r < 0.3:
            call = rng.choice([lambda: list_devices(mgr, 3, timeout=60),
                               lambda: mgr.ListParents("", timeout=60),
                               lambda: mgr.PickKind("0000:03:00.0", "vm", timeout=60)])
        elif r < 0.55 and len(own) < 15:
            k += 1
            name, drv = f"l{idx}x{k}", rng.choice(DRIVERS)
            d = {"name": name, "kind": "mdev", "parent": "mtty", "type": "mtty-2",
                 "driver": drv, "start": "manual"}
            call, kind = (lambda d=d: mgr.Define(sv(d), timeout=60)), ("own-set", name, drv)
        elif r < 0.7 and own:
            name, drv = rng.choice(sorted(own)), rng.choice(DRIVERS)
            call = lambda n=name, dr=drv: mgr.Modify(n, sv({"driver": dr}), timeout=60)  # noqa
            kind = ("own-set", name, drv)
        elif r < 0.85 and own:
            name = rng.choice(sorted(own))
            call, kind = (lambda n=name: mgr.Undefine(n, timeout=60)), ("own-del", name)
        else:
            name = rng.choice(SHARED)
            if rng.random() < 0.5:
                # A tag unique to the call: a define identical to the stored one is a no-op
                # success, this one can only succeed when the name is free.
                d = {"name": name, "kind": "mdev", "parent": "mtty", "type": "mtty-2",
                     "uuid": f"5ea4ed00-0000-4000-8000-00000000000{name[-1]}",
                     "start": "manual", "tags": [f"c{idx}-{phase}-{res['calls']}"]}
                call, kind = (lambda d=d: mgr.Define(sv(d), timeout=60)), ("sh-def", name)
            else:
                call, kind = (lambda n=name: mgr.Undefine(n, timeout=60)), ("sh-del", name)
        res["calls"] += 1
        t0 = time.time()
        try:
            call()
            ok = True
        except dbus.DBusException as e:
            ok = False
            name_e = error_name(e)
            if name_e.startswith("org.vbus1.Error."):
                res["answered"] += 1
                res["errors"][name_e] = res["errors"].get(name_e, 0) + 1
            else:
                res["unanswered"].append(f"{kind}: {name_e}: {e.get_dbus_message()}")
            if kind[0].startswith("own"):
                res["own_failed"].append(f"{kind}: {name_e}: {e.get_dbus_message()}")
        res["latency_max"] = max(res["latency_max"], time.time() - t0)
        if ok:
            res["answered"] += 1
            if kind[0] == "own-set":
                own[kind[1]] = kind[2]
            elif kind[0] == "own-del":
                own.pop(kind[1], None)
            elif kind[0] == "sh-def":
                res["shared"][kind[1]][0] += 1
            elif kind[0] == "sh-del":
                res["shared"][kind[1]][1] += 1
    res["own"] = own
    bus.close()
    q.put((idx, res))


def run_phase(phase, owns):
    q = mp.Queue()
    per = OPS // 2 // CLIENTS
    procs = [mp.Process(target=client, args=(i, per, phase, owns[i], q)) for i in range(CLIENTS)]
    t0 = time.time()
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        i, res = q.get(timeout=900)
        results[i] = res
    for p in procs:
        p.join()
    return results, time.time() - t0


# Bounded memory under ASan needs a bounded quarantine (the default holds 256 MB of freed blocks).
extra = {"ASAN_OPTIONS": "quarantine_size_mb=4:detect_leaks=1"}
tap.ok(env.start_vbusd(VBUSD_FK, extra_env=extra), "vbusd (fake kernel) starts")
owns = {i: {} for i in range(CLIENTS)}
totals = {"calls": 0, "answered": 0, "errors": {}, "unanswered": [], "own_failed": []}
shared = {n: [0, 0] for n in SHARED}
rss = []
elapsed = 0.0
lat = 0.0
for phase in (0, 1):
    results, dt = run_phase(phase, owns)
    elapsed += dt
    for i, res in results.items():
        owns[i] = res["own"]
        totals["calls"] += res["calls"]
        totals["answered"] += res["answered"]
        totals["unanswered"] += res["unanswered"]
        totals["own_failed"] += res["own_failed"]
        lat = max(lat, res["latency_max"])
        for k, v in res["errors"].items():
            totals["errors"][k] = totals["errors"].get(k, 0) + v
        for n, (a, b) in res["shared"].items():
            shared[n][0] += a
            shared[n][1] += b
    rss.append(env.vm_rss_kb())
hwm = env.vm_hwm_kb()
tap.note(f"{CLIENTS} clients, {totals['calls']} calls in {elapsed:.1f} s "
         f"({totals['calls'] / elapsed:.0f}/s), slowest {lat * 1000:.0f} ms; "
         f"errors {totals['errors']}")
tap.note(f"vbusd VmRSS after each half: {rss} kB, VmHWM {hwm} kB")
tap.ok(totals["calls"] >= OPS - CLIENTS * 2 and totals["answered"] == totals["calls"],
       f"every one of {totals['calls']} calls was answered", *totals["unanswered"][:10])
tap.ok(not totals["own_failed"], "no call on a client's own definition failed",
       *totals["own_failed"][:10])
stored = env.stored()
bad = []
for i, own in owns.items():
    for name, drv in own.items():
        if name not in stored or stored[name].get("driver") != drv:
            bad.append(f"{name}: want driver {drv}, have {stored.get(name)}")
    for name in stored:
        if name.startswith(f"l{i}x") and name not in own:
            bad.append(f"{name}: undefined by its client, still stored")
tap.ok(not bad, f"each client's definitions end as it left them "
       f"({sum(len(o) for o in owns.values())} definitions)", *bad[:10])
bad = []
for n, (defs, undefs) in shared.items():
    if defs - undefs not in (0, 1) or (defs - undefs == 1) != (n in stored):
        bad.append(f"{n}: {defs} defines, {undefs} undefines succeeded, stored: {n in stored}")
tap.ok(not bad, "shared names: successful defines and undefines alternate (serialized): " +
       ", ".join(f"{n} {d}/{u}" for n, (d, u) in shared.items()), *bad)
listed = {str(d["name"]) for d in list_devices(env.manager(), 1)}
tap.ok(listed == set(stored), "vbusd lists exactly the stored definitions",
       f"only listed: {sorted(listed - set(stored))}", f"only stored: {sorted(set(stored) - listed)}")
tap.ok(rss[1] - rss[0] <= GROWTH_KB,
       f"memory bounded: VmRSS grew {rss[1] - rss[0]} kB over the second {OPS // 2} calls "
       f"(at most {GROWTH_KB})")
rc = env.kill_vbusd(signal.SIGTERM)
tap.ok(rc == 0, f"vbusd stops on SIGTERM with status 0 (an ASan build fails here on a leak): {rc}",
       env.log_tail(30) if rc else "")
env.close()
sys.exit(tap.done())
