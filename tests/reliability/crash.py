#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Crash consistency: CRASH_OPS (1000) defines, modifies and undefines through vbusd while it is
SIGKILLed at random points (mid-call and between calls); after each restart every file under
etc/vbus parses, every acknowledged change is there, a change whose call died with vbusd is
either wholly there or wholly absent; at the end reconcile brings every autostart definition
up. TAP. Usage: crash.py VBUSD_FAKE_KERNEL SRCDIR"""
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, error_name, sv, list_devices  # noqa: E402

VBUSD, SRC = sys.argv[1], sys.argv[2]
OPS = int(os.environ.get("CRASH_OPS", "1000"))
KILL_P = float(os.environ.get("CRASH_KILL_P", "0.08"))
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
rng = random.Random(SEED)
DRIVERS = ["auto", "vfio", "none", "host"]
TAGS = ["vm", "nic", "gpu", "a", "b"]
# Autostart mdevs on mtty, counted over the whole run: undefine leaves a running mdev running,
# so each one may hold one of the 12 instances mtty-2 offers until the end.
MAX_AUTO = 8

tap = Tap()
tap.note(f"seed {SEED} (CRASH_SEED to replay), {OPS} operations, kill probability {KILL_P}")
env = Env(SRC)
env.others = []


def state(d):
    """What an operation can change in a definition, normalized."""
    if d is None:
        return None
    return (d.get("driver", "auto"), tuple(sorted(d.get("tags", []))), d.get("start", "auto"))


acked = {n: state(d) for n, d in env.stored().items()}
initial = set(acked)
pending = {}  # name -> set of acceptable states (a call that died with vbusd)
stats = {"acked": 0, "lost": 0, "refused_dead": 0, "kills": 0, "mid_call": 0, "temp_left": 0}
problems = []


def all_files_parse():
    bad = []
    for top, _, files in os.walk(os.path.join(env.root, "etc/vbus")):
        for f in files:
            p = os.path.join(top, f)
            if f.startswith(".#"):
                stats["temp_left"] += 0  # counted below; hidden temps are never loaded
                continue
            if not f.endswith(".json"):
                continue
            try:
                with open(p) as fh:
                    json.load(fh)
            except Exception as e:  # noqa: BLE001
                bad.append(f"{p}: {e}")
    return bad


def verify(where):
    """Compares the files with the model; resolves the calls that died."""
    bad = all_files_parse()
    if bad:
        problems.append(f"{where}: files that do not parse: {bad}")
    try:
        now = {n: state(d) for n, d in env.stored().items()}
    except Exception as e:  # noqa: BLE001
        problems.append(f"{where}: {e}")
        return
    for name in set(acked) | set(pending) | set(now):
        have = now.get(name)
        if name in pending:
            if have not in pending[name]:
                problems.append(f"{where}: {name} is {have}, expected one of {pending[name]}")
            if have is None:
                acked.pop(name, None)
            else:
                acked[name] = have
            continue
        if have != acked.get(name):
            problems.append(f"{where}: {name} is {have}, acknowledged {acked.get(name)}")
    pending.clear()


def restart(where):
    if not env.start_vbusd(VBUSD):
        problems.append(f"{where}: vbusd did not come back: {env.log_tail(10)}")
        return False
    return True


if not tap.ok(env.start_vbusd(VBUSD), "vbusd (fake kernel) starts"):
    env.close()
    sys.exit(tap.done())
mgr = env.manager()
n_defined = 0
n_auto = 0
for i in range(OPS):
    names = sorted(n for n in acked if n not in initial)
    r = rng.random()
    if r < 0.4 or len(names) < 3:
        n_defined += 1
        name = f"c{n_defined}"
        start = "auto" if n_auto < MAX_AUTO and rng.random() < 0.3 else "manual"
        n_auto += start == "auto"
        d = {"name": name, "kind": "mdev", "parent": "mtty", "type": "mtty-2",
             "driver": rng.choice(DRIVERS), "start": start,
             "tags": rng.sample(TAGS, rng.randint(0, 2))}
        call, old, new = (lambda d=d: mgr.Define(sv(d), timeout=10)), None, state(d)
    elif r < 0.75:
        name = rng.choice(names)
        ch = {"driver": rng.choice(DRIVERS), "tags": rng.sample(TAGS, rng.randint(0, 3))}
        old = acked[name]
        new = (ch["driver"], tuple(sorted(ch["tags"])), old[2])
        call = lambda name=name, ch=ch: mgr.Modify(name, sv(ch), timeout=10)  # noqa: E731
    else:
        # Autostart ones stay defined, so that reconcile has something to bring up at the end.
        name = rng.choice([n for n in names if acked[n][2] != "auto"] or names)
        old, new = acked[name], None
        call = lambda name=name: mgr.Undefine(name, timeout=10)  # noqa: E731

    killer = None
    if rng.random() < KILL_P:
        # Most calls take a few ms: a delay in [0, 15 ms) lands before, inside or after one.
        pid = env.vbusd
        killer = threading.Timer(rng.uniform(0, 0.015), lambda p=pid: p.send_signal(signal.SIGKILL))
        killer.start()
    try:
        call()
        acked_now = True
    except dbus.DBusException as e:
        acked_now = False
        err = error_name(e)
        if err == "org.freedesktop.DBus.Error.ServiceUnknown":
            stats["refused_dead"] += 1  # never reached vbusd: nothing may change
            pending[name] = {old}
        elif err in ("org.freedesktop.DBus.Error.NoReply",
                     "org.freedesktop.DBus.Error.Disconnected"):
            stats["lost"] += 1
            stats["mid_call"] += 1
            pending[name] = {old, new}
        else:
            problems.append(f"op {i}: {name}: unexpected {err}: {e.get_dbus_message()}")
    if acked_now:
        stats["acked"] += 1
        if new is None:
            acked.pop(name, None)
        else:
            acked[name] = new
    if killer:
        killer.join()
        env.kill_vbusd()
        stats["kills"] += 1
        verify(f"after kill {stats['kills']} (op {i})")
        if not restart(f"op {i}"):
            break
        mgr = env.manager()  # a proxy is bound to the unique name of the vbusd it first saw
        verify(f"after restart {stats['kills']}")

tap.note(f"stats: {stats}")
tap.ok(stats["kills"] >= OPS * KILL_P / 3, f"vbusd was killed {stats['kills']} times "
       f"({stats['mid_call']} calls died with it)")
tap.ok(not problems, "every file parsed and matched the acknowledged changes after each kill",
       *problems[:20])

# The final state: one more kill, then restart and let reconcile act.
env.kill_vbusd()
verify("final")
tap.ok(not problems, "final state: acknowledged changes present, lost calls atomic",
       *problems[:20])
temps = [f for f in os.listdir(env.devices_dir()) if f.startswith(".#")]
tap.note(f"temporary files left by kills (hidden, never loaded): {len(temps)}")
# And one as a writer killed between write and rename leaves it (half a file), for certain.
with open(os.path.join(env.devices_dir(), ".#half.json.Xy12Z9"), "w") as f:
    f.write('{ "version": 1, "name": "half", "ki')
temps.append(".#half.json.Xy12Z9")
tap.ok(restart("final"), "vbusd restarts on the final tree")
mgr = env.manager()
# The next change takes the store's lock, under which stale temporary files are removed.
mgr.Define(sv({"name": "after", "kind": "pci", "parent": "0000:0a:00.0", "start": "manual"}))
mgr.Undefine("after")
left = [f for f in os.listdir(env.devices_dir()) if f.startswith(".#")]
tap.ok(not left, f"the first change after the restart removed the {len(temps)} temporary files "
       "of killed writers", str(left))
# (an undefined autostart mdev keeps running and is listed, not defined: only defined ones)
listed = {}
for dev in list_devices(mgr, 1, timeout=30):
    if bool(dev.get("defined", False)):
        listed[str(dev["name"])] = dev
tap.ok(set(listed) >= set(acked) and not (set(listed) - set(acked)) - initial,
       f"vbusd lists exactly the {len(acked)} stored definitions (temporary files ignored)",
       f"missing: {sorted(set(acked) - set(listed))}",
       f"extra: {sorted(set(listed) - set(acked))}")
mine = [n for n in acked if n not in initial]
autos = [n for n in mine if acked[n][2] == "auto"]
deadline = time.time() + 10
while time.time() < deadline:
    devs = {str(d["name"]): d for d in list_devices(mgr, 1, timeout=30)}
    down = [n for n in autos if not bool(devs.get(n, {}).get("active", False))]
    if not down:
        break
    time.sleep(0.3)
tap.ok(autos and not down, f"reconcile brought all {len(autos)} autostart definitions up",
       f"not active: {down}", *[f"{n}: {devs.get(n)}" for n in down],
       *[line for line in open(os.path.join(env.t, "vbusd.log"), errors="replace")
         if any(f"'{n}'" in line or f" {n}:" in line for n in down)][-20:],
       env.log_tail(15))
manual_up = [n for n in mine if acked[n][2] == "manual" and bool(devs.get(n, {}).get("active"))]
tap.ok(not manual_up, "no manual definition was started by reconcile", str(manual_up))
env.close()
sys.exit(tap.done())
