#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Orphans after a crash (issue 14 item 2): `create --transient` through vbusctl --root and
Create/Start through vbusd, each SIGKILLed after one step of the start (VBUS_FAKE_KILL_AT of
the fake-kernel builds: checked, intent, created, recorded) or at a random moment; after each
kill no mdev exists that no /run/vbus record names, and the user's next call (remove, stop, a
restarted vbusd) leaves no device behind. ORPHAN_OPS (60) kills of vbusctl, ORPHAN_DAEMON_OPS
(8) of vbusd. TAP. Usage: orphans.py VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR"""
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, sv  # noqa: E402

VBUSCTL, VBUSD, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
OPS = int(os.environ.get("ORPHAN_OPS", "60"))
DAEMON_OPS = int(os.environ.get("ORPHAN_DAEMON_OPS", "8"))
SEED = int(os.environ.get("ORPHAN_SEED", str(int(time.time()))))
rng = random.Random(SEED)
# mdev on mtty is bound by the parent's own driver: a start has no "bound" step there.
STEPS = ["checked", "intent", "created", "recorded", "random"]

tap = Tap()
tap.note(f"seed {SEED} (ORPHAN_SEED to replay), {OPS} vbusctl kills, {DAEMON_OPS} vbusd kills")
env = Env(SRC)
for f in glob.glob(os.path.join(env.devices_dir(), "*.json")):
    os.unlink(f)  # vbusd's own reconcile at start must not meet a kill point
MDEVS = os.path.join(env.root, "sys/bus/mdev/devices")
AVAIL = os.path.join(env.root, "sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2/"
                     "available_instances")
initial = set(os.listdir(MDEVS)) if os.path.isdir(MDEVS) else set()
initial_avail = open(AVAIL).read().strip()
stats = {"killed": 0, "completed": 0, "unrecognised": 0, "left": 0, "records_left": 0}
problems = []


def mdevs():
    return (set(os.listdir(MDEVS)) if os.path.isdir(MDEVS) else set()) - initial


def recorded_uuids():
    out = set()
    for f in glob.glob(os.path.join(env.root, "run/vbus/*.json")):
        try:
            with open(f) as fh:
                out.add(json.load(fh)["definition"].get("uuid"))
        except (OSError, ValueError, KeyError):
            problems.append(f"{f} does not parse")
    # The write-ahead records of the starts of one hold of the lock: one line each, appended
    # before the kernel is asked (lib/ops.c); the next call makes each a record of its own.
    journal = os.path.join(env.root, "run/vbus/.intents")
    if os.path.exists(journal):
        with open(journal) as fh:
            for line in fh:
                if line.endswith("\n"):
                    try:
                        out.add(json.loads(line)["definition"].get("uuid"))
                    except (ValueError, KeyError):
                        problems.append(f"{journal}: a line does not parse: {line!r}")
    return out


def unrecognised(where):
    bad = mdevs() - recorded_uuids()
    if bad:
        stats["unrecognised"] += len(bad)
        problems.append(f"{where}: mdevs no record names: {sorted(bad)}")


def vbusctl(*args, kill_at=None):
    env_ = dict(os.environ)
    if kill_at and kill_at != "random":
        env_["VBUS_FAKE_KILL_AT"] = kill_at
    p = subprocess.Popen([VBUSCTL, "--root", env.root] + list(args), env=env_,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_at == "random":
        time.sleep(rng.uniform(0, 0.15))
        p.send_signal(signal.SIGKILL)
    p.wait()
    return p.returncode


# ---- vbusctl --root, killed ----------------------------------------------------------------
# Kills at the steps first, then at random moments (which may fall inside the fake kernel's
# own several-step create: see the instance count below).
order = [STEPS[i % (len(STEPS) - 1)] for i in range(OPS - OPS // 5)] + ["random"] * (OPS // 5)
avail_after_steps = None
for i in range(OPS):
    name, uuid = f"t{i}", f"{i:08x}-2222-4333-8444-555555555555"
    step = order[i]
    if step == "random" and avail_after_steps is None:
        avail_after_steps = open(AVAIL).read().strip()
    rc = vbusctl("create", name, "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2",
                 "--uuid", uuid, "--transient", kill_at=step)
    stats["killed" if rc == -signal.SIGKILL else "completed"] += 1
    unrecognised(f"{name} killed after {step}")
    rc = vbusctl("remove", name)
    if uuid in mdevs():
        stats["left"] += 1
        problems.append(f"{name} (killed after {step}): remove exited {rc}, mdev {uuid} stays")
    if os.path.exists(os.path.join(env.root, f"run/vbus/{name}.json")):
        stats["records_left"] += 1
        problems.append(f"{name} (killed after {step}): its record stays after remove")
tap.note(f"vbusctl: {stats}")
tap.ok(not problems and stats["killed"] > 0,
       f"{OPS} create --transient killed at a step: {stats['killed']} killed, 0 orphans",
       *problems[:20])
# The fake kernel's create is several file operations (the real one is atomic): a random kill
# inside it may leave an instance counted as taken that never became a device. The count is
# checked after the kills at the steps, which never fall inside it.
tap.ok(avail_after_steps == initial_avail, "mtty-2 has all its instances again",
       f"available_instances {avail_after_steps}, was {initial_avail}")
tap.note(f"after the random kills: available_instances {open(AVAIL).read().strip()}")

# ---- vbusctl apply --now, killed at the Nth device's step ----------------------------------
# One apply starts every device of its list under one lock, their write-ahead records in one
# journal: killed after any step of any of them (VBUS_FAKE_KILL_AT=STEP@N), every mdev left is
# named by a record or by the journal, and the next apply of [] --now (which undefines them and
# stops what vbus started) leaves none behind.
problems.clear()
astats = {"killed": 0, "completed": 0}
APPLY_N = 4
apply_file = os.path.join(env.root, "apply-orphans.json")
for i in range((len(STEPS) - 1) * APPLY_N):
    step, nth = STEPS[i % (len(STEPS) - 1)], 1 + i // (len(STEPS) - 1)
    defs = [{"name": f"a{i}-{k}", "kind": "mdev", "parent": "mtty", "type": "mtty-2",
             "uuid": f"{i:04x}{k:04x}-4444-4333-8444-555555555555", "start": "auto"}
            for k in range(APPLY_N)]
    with open(apply_file, "w") as fh:
        json.dump(defs, fh)
    rc = vbusctl("apply", apply_file, "--now", kill_at=f"{step}@{nth}")
    astats["killed" if rc == -signal.SIGKILL else "completed"] += 1
    if rc != -signal.SIGKILL:
        problems.append(f"apply was not killed after {step} of device {nth} (exit {rc})")
    unrecognised(f"apply killed after {step} of device {nth}")
    with open(apply_file, "w") as fh:
        fh.write("[]")
    rc = vbusctl("apply", apply_file, "--now")
    left = mdevs()
    if rc != 0 or left:
        problems.append(f"apply [] --now after a kill at {step}:{nth}: exit {rc}, "
                        f"mdevs left {sorted(left)}")
    for f in glob.glob(os.path.join(env.root, "run/vbus/*.json")) + \
            glob.glob(os.path.join(env.root, "run/vbus/.intents")):
        problems.append(f"after a kill at {step}:{nth} and apply []: {f} stays")
tap.note(f"apply: {astats}")
tap.ok(not problems and astats["killed"] == (len(STEPS) - 1) * APPLY_N,
       f"apply --now of {APPLY_N} killed at each step of each device: 0 orphans",
       *problems[:20])

# ---- vbusd, killed in Create and Start ------------------------------------------------------
problems.clear()
dstats = {"killed": 0, "recovered": 0}
for i in range(DAEMON_OPS):
    step = STEPS[i % (len(STEPS) - 1)]
    transient = i % 2 == 0
    name, uuid = f"d{i}", f"{i:08x}-3333-4333-8444-555555555555"
    if not env.start_vbusd(VBUSD, {"VBUS_FAKE_KILL_AT": step}):
        problems.append(f"vbusd did not start: {env.log_tail()}")
        break
    m = env.manager()
    d = {"name": name, "kind": "mdev", "parent": "mtty", "type": "mtty-2", "uuid": uuid}
    try:
        if transient:
            m.Create(sv(d), "", dbus.UInt32(1), timeout=20)
        else:
            d["start"] = "manual"
            m.Define(sv(d), timeout=20)
            m.Start(name, timeout=20)
    except dbus.DBusException:
        pass
    rc = env.vbusd.wait(timeout=20) if env.vbusd else None
    env.vbusd = None
    if rc == -signal.SIGKILL:
        dstats["killed"] += 1
    else:
        problems.append(f"{name}: vbusd was not killed after {step} (exit {rc})")
    unrecognised(f"{name}: vbusd killed after {step}")
    env._bus.close()
    env._bus = None
    if not env.start_vbusd(VBUSD):
        problems.append(f"vbusd did not come back: {env.log_tail()}")
        break
    m = env.manager()
    # The reproduction: Stop must destroy what the killed start made; Remove undefines.
    for verb in ([] if transient else ["Stop"]) + ["Remove"]:
        try:
            getattr(m, verb)(name, timeout=20)
        except dbus.DBusException as e:
            # Killed before the kernel made anything: nothing to stop, and a transient
            # device's dropped record leaves no name to remove.
            if step in ("checked", "intent") and (verb == "Stop" or transient):
                continue
            problems.append(f"{name} (vbusd killed after {step}): {verb}: {e}")
    if uuid in mdevs():
        problems.append(f"{name} (vbusd killed after {step}): mdev {uuid} stays")
    elif not os.path.exists(os.path.join(env.devices_dir(), f"{name}.json")):
        dstats["recovered"] += 1
    env.kill_vbusd(signal.SIGTERM)
    env._bus.close()
    env._bus = None
tap.note(f"vbusd: {dstats}")
tap.ok(not problems and dstats["recovered"] == DAEMON_OPS,
       f"{DAEMON_OPS} Create/Start killed in vbusd: recovered after restart, 0 orphans",
       *problems[:20])
env.close()
sys.exit(tap.done())
