#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""apply is all or nothing across a crash (issue 14 item 3): `vbusctl --root R apply` of
APPLY_SIZE (3000) entries is SIGKILLed at a random point APPLY_KILLS times (20 at CI scale, 200
at full scale); after each kill the next reader (`vbusctl list --defined -j`) and then the files
in devices.d hold exactly the old set or exactly the new one, and the following apply leaves no
hidden file behind. The two sets alternate: each overlaps the other (modified), and each has
names the other lacks (defined, undefined). TAP. Usage: apply-crash.py VBUSCTL SRCDIR"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap  # noqa: E402

VBUSCTL, SRC = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
KILLS = int(os.environ.get("APPLY_KILLS", "20"))
SIZE = int(os.environ.get("APPLY_SIZE", "3000"))
SEED = int(os.environ.get("APPLY_SEED", str(int(time.time()))))
rng = random.Random(SEED)
tap = Tap()
tap.note(f"seed {SEED} (APPLY_SEED to replay), {KILLS} kills, {SIZE} entries")

# On tmpfs when there is one: what is checked is a killed process, not a lost disk, and a
# syncfs() on a disk shared with builds costs seconds per apply.
t = tempfile.mkdtemp(prefix="vbus-apply-crash.",
                     dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
root = os.path.join(t, "root")
shutil.copytree(os.path.join(SRC, "tests/data/host-mixed"), root, symlinks=True)
store = os.path.join(root, "etc/vbus/devices.d")
for f in os.listdir(store):
    os.unlink(os.path.join(store, f))


def entry(i, variant):
    """PCI definitions (no kernel needed: their functions are absent, which apply allows)."""
    bdf = f"0000:{0x40 + i // 256:02x}:{(i // 8) % 32:02x}.{i % 8}"
    d = {"version": 1, "name": f"d{i:05d}", "kind": "pci", "parent": bdf,
         "driver": "vfio-pci" if variant == 0 else "none", "start": "manual"}
    if variant:
        d["tags"] = ["new"]
    return d


# Set 0: d0..d(SIZE-1); set 1: d(SIZE/3)..d(SIZE+SIZE/3-1), other driver and a tag.
SETS = [[entry(i, 0) for i in range(SIZE)],
        [entry(i, 1) for i in range(SIZE // 3, SIZE + SIZE // 3)]]
FILES = []
for k, s in enumerate(SETS):
    p = os.path.join(t, f"set{k}.json")
    with open(p, "w") as f:
        json.dump(s, f)
    FILES.append(p)


def norm(d):
    return (d["name"], d["parent"], d.get("driver"), tuple(d.get("tags", [])))


WANT = [sorted(norm(d) for d in s) for s in SETS]


def vbusctl(*args, **kw):
    return subprocess.run([VBUSCTL, "--root", root, *args], capture_output=True, text=True,
                          **kw)


def files_now():
    out, bad = [], []
    for f in sorted(os.listdir(store)):
        if f.startswith("."):
            continue
        try:
            with open(os.path.join(store, f)) as fh:
                out.append(norm(json.load(fh)))
        except Exception as e:  # noqa: BLE001
            bad.append(f"{f}: {e}")
    return sorted(out), bad


def which(state):
    for k in (0, 1):
        if state == WANT[k]:
            return k
    return None


# The first apply, whole; its duration bounds the kill points.
t0 = time.monotonic()
r = vbusctl("apply", FILES[0])
full = time.monotonic() - t0
tap.ok(r.returncode == 0 and which(files_now()[0]) == 0, f"apply of {SIZE} entries",
       r.stderr[-2000:])
tap.note(f"a whole apply took {full:.2f} s")

cur = 0
stats = {"old": 0, "new": 0, "torn": 0, "finished": 0, "journal_seen": 0}
problems = []
for i in range(KILLS):
    nxt = 1 - cur
    p = subprocess.Popen([VBUSCTL, "--root", root, "apply", FILES[nxt]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, full * 1.2))
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    rc = p.wait()
    if rc == 0:
        stats["finished"] += 1
    if os.path.exists(os.path.join(store, ".journal")):
        stats["journal_seen"] += 1
    # The next reader: it must see one set whole (it rolls back a killed apply first).
    r = vbusctl("-j", "list", "--defined")
    try:
        listed = sorted(norm(d) for d in json.loads(r.stdout))
    except Exception as e:  # noqa: BLE001
        listed = None
        problems.append(f"kill {i}: list failed: {e}: {r.stderr[-500:]}")
    state, bad = files_now()
    k = which(state)
    if bad:
        problems.append(f"kill {i}: files that do not parse: {bad[:3]}")
    if k is None:
        stats["torn"] += 1
        names = {n for n, *_ in state}
        problems.append(f"kill {i} (exit {rc}): {len(state)} files, neither set "
                        f"({len(names & {n for n, *_ in WANT[0]})} of set 0's names)")
    elif listed != state:
        problems.append(f"kill {i}: the listing differs from the files")
    else:
        stats["old" if k == cur else "new"] += 1
        if k == nxt and rc not in (0, -signal.SIGKILL):
            problems.append(f"kill {i}: new set with exit {rc}")
        cur = k
    if k is None:
        break

tap.note(", ".join(f"{k} {v}" for k, v in stats.items()))
tap.ok(not problems, f"{KILLS} random kills: the store is always the whole old or new set",
       *problems[:10])

# A last whole apply sweeps what killed ones left (temporaries, a finished journal).
r = vbusctl("apply", FILES[1 - cur])
left = [f for f in os.listdir(store) if f.startswith(".")]
tap.ok(r.returncode == 0 and which(files_now()[0]) == 1 - cur and not left,
       "a whole apply afterwards: the other set, no hidden file left", r.stderr[-500:], left)

if not os.environ.get("KEEP"):
    shutil.rmtree(t, ignore_errors=True)
else:
    tap.note(f"kept {t}")
sys.exit(tap.done())
