#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Orphans after a crash in the middle of a stacked start (orphans.py for a stack): an mdev
("a-mdev", start auto) on a VF ("z-vf", start auto, "parent": "@z-vf" on the mdev) of
tests/data/host-vgpu. vbusctl --root start a-mdev, and separately vbusd's reconcile at its start,
are SIGKILLed (VBUS_FAKE_KILL_AT of the fake-kernel builds) after the VF is made and before the
mdev is: after the VF's created and recorded steps (it keeps its host driver: no bind step),
after the mdev's checked and intent steps. After each kill: the VF is there and the mdev is
not, and no device exists that no /run/vbus record names. A restarted vbusd (its reconcile) starts the mdev on the VF; Stop of the
mdev then of the VF leaves nothing behind (no mdev, no VF, no record). TAP.
Usage: stack-orphans.py VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR"""
import glob
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, list_devices  # noqa: E402

VBUSCTL, VBUSD, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
PF = "0000:81:00.0"
UUID = "5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10"
# After the VF is made (created, recorded; its host driver binds it, there is no bind step),
# before the mdev is (its check, its intent): the Nth time the process reaches a step (the VF's
# steps come first).
POINTS = ["created@1", "recorded@1", "checked@2", "intent@2"]
DEFS = {
    "z-vf": {"version": 1, "name": "z-vf", "kind": "vf", "parent": PF, "index": 0,
             "driver": "host", "start": "auto"},
    "a-mdev": {"version": 1, "name": "a-mdev", "kind": "mdev", "parent": "@z-vf",
               "type": "nvidia-694", "uuid": UUID, "start": "auto"},
}

tap = Tap()
env = Env(SRC, tree="host-vgpu")
os.makedirs(env.devices_dir(), exist_ok=True)
os.makedirs(os.path.join(env.root, "run"), exist_ok=True)
NUMVFS = os.path.join(env.root, f"sys/bus/pci/devices/{PF}/sriov_numvfs")
MDEVS = os.path.join(env.root, "sys/bus/mdev/devices")


def numvfs():
    return int(open(NUMVFS).read().strip() or 0)


def mdevs():
    return set(os.listdir(MDEVS)) if os.path.isdir(MDEVS) else set()


def records():
    out = {}
    for f in glob.glob(os.path.join(env.root, "run/vbus/*.json")):
        with open(f) as fh:
            out[os.path.basename(f)[:-5]] = json.load(fh)
    # The write-ahead records of the starts of one hold of the lock, a line each (lib/ops.c):
    # the next call makes each line without a record of its own that record.
    journal = os.path.join(env.root, "run/vbus/.intents")
    if os.path.exists(journal):
        with open(journal) as fh:
            for line in fh:
                if line.endswith("\n"):
                    r = json.loads(line)
                    out.setdefault(r["definition"]["name"], r)
    return out


def unknown():
    """The devices that exist and that no /run/vbus record names as vbus's own."""
    recs = [r.get("definition", {}) for r in records().values()]
    bad = [f"mdev {u}" for u in sorted(mdevs())
           if not any(d.get("uuid") == u for d in recs)]
    if numvfs() and not any(d.get("kind") == "vf" and d.get("parent") == PF for d in recs):
        bad.append(f"{numvfs()} VFs of {PF}")
    return bad


def define():
    for name, d in DEFS.items():
        with open(os.path.join(env.devices_dir(), f"{name}.json"), "w") as f:
            json.dump(d, f)


def between(where):
    """The state a kill between the two starts leaves: the VF, no mdev, nothing unknown."""
    return tap.ok(numvfs() >= 1 and UUID not in mdevs() and not unknown(),
                  f"{where}: the VF is made, the mdev is not, every device is named by a "
                  "record", f"numvfs {numvfs()}, mdevs {sorted(mdevs())}, unknown {unknown()}, "
                  f"records {sorted(records())}")


def recover(where):
    """vbusd restarted: its reconcile starts the mdev on the VF; Stop of the mdev, then of the
    VF, leaves nothing; vbusd stops."""
    if not tap.ok(env.start_vbusd(VBUSD), f"{where}: vbusd restarts", env.log_tail()):
        return
    m = env.manager()
    listed = {e["name"]: e for e in list_devices(m, 1 | 2)}
    tap.ok(UUID in mdevs() and numvfs() >= 1 and not unknown() and
           all(listed.get(n, {}).get("active") for n in DEFS),
           f"{where}: the restarted vbusd's reconcile started the mdev on the VF, both listed "
           "active", f"mdevs {sorted(mdevs())}, numvfs {numvfs()}, unknown {unknown()}",
           {n: (e.get("active"), e.get("bound_driver")) for n, e in listed.items()},
           env.log_tail(15))
    errs = []
    for name in ("a-mdev", "z-vf"):
        try:
            m.Stop(name, timeout=20)
        except dbus.DBusException as e:
            errs.append(f"Stop {name}: {e}")
    tap.ok(not errs and not mdevs() and numvfs() == 0 and not records(),
           f"{where}: Stop a-mdev, then Stop z-vf: no mdev, no VF, no record left",
           *errs, f"mdevs {sorted(mdevs())}, numvfs {numvfs()}, records {sorted(records())}")
    env.kill_vbusd(signal.SIGTERM)
    env._bus.close()
    env._bus = None


# ---- vbusctl --root start, killed ----------------------------------------------------------
for point in POINTS:
    define()
    p = subprocess.run([VBUSCTL, "--root", env.root, "start", "a-mdev"],
                       env=dict(os.environ, VBUS_FAKE_KILL_AT=point),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    tap.ok(p.returncode == -signal.SIGKILL, f"vbusctl start a-mdev killed after {point}",
           f"exit {p.returncode}: {p.stderr.strip()}")
    between(f"vbusctl killed after {point}")
    recover(f"vbusctl killed after {point}")

# ---- vbusd's reconcile at its start, killed ----------------------------------------------------
for point in POINTS:
    define()
    # Killed before READY=1: what the short wait for it says is only checked below.
    ready = env.start_vbusd(VBUSD, {"VBUS_FAKE_KILL_AT": point}, timeout=3)
    rc = env.kill_vbusd(signal.SIGTERM) if ready else env.vbusd.wait(timeout=20)
    env.vbusd = None
    tap.ok(not ready and rc == -signal.SIGKILL,
           f"vbusd's reconcile of the stack killed after {point}",
           f"ready {ready}, exit {rc}", env.log_tail(10))
    between(f"vbusd killed after {point}")
    recover(f"vbusd killed after {point}")

# ---- vbusctl --root start a-mdev after a kill that left the VF made, its record pending ----------
# The next start of the mdev completes the VF's start too (its record no longer pending), as
# a start of z-vf would: nothing half-recorded is left for the user to find.
define()
p = subprocess.run([VBUSCTL, "--root", env.root, "start", "a-mdev"],
                   env=dict(os.environ, VBUS_FAKE_KILL_AT="created@1"),
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
tap.ok(p.returncode == -signal.SIGKILL, "vbusctl start a-mdev killed after created@1",
       f"exit {p.returncode}: {p.stderr.strip()}")
p = subprocess.run([VBUSCTL, "--root", env.root, "start", "a-mdev"], capture_output=True,
                   text=True, timeout=60)
recs = records()
tap.ok(p.returncode == 0 and UUID in mdevs() and
       {n: recs.get(n, {}).get("state") for n in DEFS} == {"z-vf": "active", "a-mdev": "active"},
       "vbusctl start a-mdev again: the mdev made, both records complete (z-vf's no longer "
       "pending)", f"exit {p.returncode}: {p.stderr.strip()}",
       {n: r.get("state") for n, r in recs.items()})
p = subprocess.run([VBUSCTL, "--root", env.root, "stop", "z-vf"], capture_output=True,
                   text=True, timeout=60)
tap.ok(p.returncode == 0 and not mdevs() and numvfs() == 0 and not records(),
       "vbusctl stop z-vf (a-mdev first): no mdev, no VF, no record left",
       f"exit {p.returncode}: {p.stderr.strip()}", f"records {sorted(records())}")

env.close()
sys.exit(tap.done())
