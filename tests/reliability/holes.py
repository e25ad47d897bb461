#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The holes of issue 14 (items 1, 4, 5, 6, 7), each as the trial reproduced it, against vbusd
(fake kernel) on a private bus with python3-dbusmock's polkitd allowing org.vbus1.manage to
uid 65534, and against vbusctl --root on a scratch tree:
 1. Import as a polkit-authorized non-root caller: no directory of its choosing, no link
    followed, no FIFO or /dev/zero read, no file content in the reply or the log;
 4. a long dry run needs authorization, a list beyond the bound is refused, one uid's queue of
    calls waiting for a hung polkit does not deny another uid;
 5. invalid UTF-8 and control characters refused at Define, a hand-written bad file skipped
    without breaking ListDevices, nothing forged in vbusd's log, refusals rate-limited there;
 6. a 2 MiB key, NaN, "a\\u0000b", trailing data after an apply list: refused;
 7. stop of a never-started manual pci definition, ".#" temporaries in run/vbus, modprobe of a
    module that serves no such bus, uppercase mdev uuids, a FIFO in devices.d or policy.d.
TAP. Usage: holes.py VBUSD_FAKE_KERNEL VBUSCTL SRCDIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, error_name, sv, list_devices  # noqa: E402

VBUSD_FK, VBUSCTL, SRC = sys.argv[1:4]
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
OTHER = ["setpriv", "--reuid", "1", "--regid", "1", "--clear-groups"]
tap = Tap()
env = Env(SRC)
os.chmod(env.t, 0o755)
D = env.devices_dir()


def gdbus(who, method, *args, timeout=30):
    try:
        p = subprocess.run(who + ["gdbus", "call", "--system", "--dest", "org.vbus1",
                                  "--object-path", "/org/vbus1", "--method",
                                  f"org.vbus1.Manager.{method}", *args],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "no answer (timed out)"
    return p.returncode, (p.stdout + p.stderr).strip()


def call(method, *args, **kw):
    """Root's call; (None, result) or (error name, message)."""
    try:
        return None, getattr(env.manager(), method)(*args, **kw)
    except dbus.DBusException as e:
        return error_name(e), e.get_dbus_message()


def log_text():
    env.log.flush()
    with open(os.path.join(env.t, "vbusd.log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


tap.ok(env.start_vbusd(VBUSD_FK), "vbusd (fake kernel) starts")
pk = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--template", "polkitd", "--system"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
env.others.append(pk)
for _ in range(200):
    if env.bus().name_has_owner("org.freedesktop.PolicyKit1"):
        break
    time.sleep(0.05)
mock = dbus.Interface(env.bus().get_object("org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority"),
                      "org.freedesktop.DBus.Mock")
mock.SetAllowed(["org.vbus1.manage"])

# ---- 5, 6. What Define accepts -----------------------------------------------------------
base = {"kind": "pci", "parent": "0000:05:00.0", "start": "manual"}


def define(extra):
    d = dict(base, name="h1")
    d.update(extra)
    args = sv({k: v for k, v in d.items() if not isinstance(v, float)})
    for k, v in d.items():
        if isinstance(v, float):
            args[k] = dbus.Double(v, variant_level=1)
    return call("Define", args)


cases = [
    ("an sf parent with an escape sequence", {"kind": "sf", "parent": "pci/\x1b]0;T\x07",
                                              "index": 3}, "InvalidArgument"),
    ("a tag with a newline forging a row", {"tags": ["a\nforged  pci"]}, "InvalidArgument"),
    ("a kind with a forged log line", {"kind": "x\n<0>FORGED"}, "InvalidArgument"),
    ("an extra key of 2 MiB", {"note": "x" * (2 << 20)}, "TooLarge"),
    ("NaN in an extra key", {"weight": float("nan")}, "InvalidArgument"),
    ("-Infinity in an extra key", {"weight": float("-inf")}, "InvalidArgument"),
    ("a C1 control character", {"type": "\u009b31m"}, "InvalidArgument"),
]
for what, extra, want in cases:
    err, msg = define(extra)
    tap.ok(err == f"org.vbus1.Error.{want}" and not os.path.exists(f"{D}/h1.json"),
           f"5/6: Define with {what} is refused ({want})", err, str(msg)[:300])
tap.ok(not re.search(r"^<0>FORGED", log_text(), re.M), "5: no forged line in vbusd's log")

# A file written by hand with bytes that are not UTF-8: skipped, ListDevices works for all.
with open(f"{D}/bad8.json", "wb") as f:
    f.write(b'{"version": 1, "name": "bad8", "kind": "sf", "parent": "pci/\xff\xfe", '
            b'"index": 1}\n')
g = subprocess.run([VBUSCTL, "define", "good1", "--kind", "pci", "--parent", "0000:00:1d.0",
                    "--manual"], capture_output=True, text=True)
tap.ok(g.returncode == 0, "root defines good1 beside it", g.stderr)
p = subprocess.run(NOBODY + [VBUSCTL, "-j", "list", "--all"], capture_output=True, text=True)
rc, out = p.returncode, p.stdout + p.stderr
tap.ok(rc == 0 and "good1" in out and '"name": "bad8"' not in out,
       "5: a definition file with invalid UTF-8 is skipped; ListDevices works for everyone",
       out[-500:])
p = subprocess.run(NOBODY + [VBUSCTL, "list", "--defined"], capture_output=True, text=True)
rc, out = p.returncode, p.stdout + p.stderr
tap.ok(rc == 0 and "good1" in out, "5: ... and so does its table", out[-300:])
tap.ok("bad8.json" in log_text() and "not valid UTF-8" in log_text(),
       "5: ... the file is named in the log with the cause")
os.unlink(f"{D}/bad8.json")

# Refusals anyone can cause are rate-limited in the log (a fresh window first).
time.sleep(11)
before = log_text().count("Failed to parse definition")
for i in range(60):
    define({"kind": f"bad{i}"})
after = log_text().count("Failed to parse definition")
tap.ok(1 <= after - before <= 21, f"5: 60 refused Defines log {after - before} notices (rate-limited)")

# ---- 4. Bounds on unauthorized and large work -------------------------------------------
mock.SetAllowed([])


def pci_list(n):
    return dbus.Array([sv({"name": f"q{i}", "kind": "pci",
                           "parent": f"0000:{0x40 + i // 256:02x}:{(i // 8) % 32:02x}.{i % 8}"})
                       for i in range(n)], signature="a{sv}")


def apply_as(who, n, flags):
    script = ("import dbus, sys\n"
              "b = dbus.SystemBus()\n"
              "m = dbus.Interface(b.get_object('org.vbus1', '/org/vbus1'), 'org.vbus1.Manager')\n"
              f"n = {n}\n"
              "l = [{'name': 'q%d' % i, 'kind': 'pci', 'parent': '0000:%02x:%02x.%d' % "
              "(0x40 + i // 256, (i // 8) % 32, i % 8)} for i in range(n)]\n"
              "l = dbus.Array([dbus.Dictionary({k: dbus.String(v, variant_level=1) for k, v in "
              "d.items()}, signature='sv') for d in l], signature='a{sv}')\n"
              "try:\n"
              f"    m.Apply(l, dbus.UInt32({flags}), timeout=60)\n"
              "    print('ok')\n"
              "except dbus.DBusException as e:\n"
              "    print(e.get_dbus_name())\n")
    p = subprocess.run(who + ["/usr/bin/python3", "-c", script], capture_output=True, text=True,
                       timeout=120)
    return (p.stdout + p.stderr).strip()


out = apply_as(NOBODY, 10, 1)
tap.ok(out == "ok", "4: a short dry run is open to everyone", out)
out = apply_as(NOBODY, 3000, 1)
tap.ok("AccessDenied" in out, "4: a dry run of 3000 entries needs authorization", out)
t0 = time.time()
err, msg = call("Apply", pci_list(20000), dbus.UInt32(1), timeout=60)
tap.ok(err == "org.vbus1.Error.TooLarge" and time.time() - t0 < 20,
       f"4: a list of 20000 entries is refused (TooLarge) in {time.time() - t0:.1f} s", err, msg)

# One uid's calls waiting for a polkit that hangs do not deny another uid.
mock.SetAllowed(["org.vbus1.manage"])
mock.SimulateHang(True)
flood = ("import dbus, dbus.mainloop.glib, sys, time\n"
         "from gi.repository import GLib\n"
         "dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)\n"
         "b = dbus.SystemBus()\n"
         "m = dbus.Interface(b.get_object('org.vbus1', '/org/vbus1'), 'org.vbus1.Manager')\n"
         "res = {}\n"
         "def done(*a): res['ok'] = res.get('ok', 0) + 1\n"
         "def fail(e): n = e.get_dbus_name(); res[n] = res.get(n, 0) + 1\n"
         "for i in range(300):\n"
         "    m.Define({'name': dbus.String('fl%d' % i, variant_level=1), 'kind': "
         "dbus.String('pci', variant_level=1), 'parent': dbus.String('0000:04:00.0', "
         "variant_level=1)}, reply_handler=done, error_handler=fail, timeout=120)\n"
         "loop = GLib.MainLoop()\n"
         "GLib.timeout_add(4000, loop.quit)\n"
         "loop.run()\n"
         "print(res, flush=True)\n"
         "time.sleep(60)\n")
fl = subprocess.Popen(NOBODY + ["/usr/bin/python3", "-c", flood], stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
env.others.append(fl)
first = fl.stdout.readline().strip()
tap.note(f"flood of 300 Defines from uid 65534 while polkit hangs: {first}")
tap.ok("org.vbus1.Error.Busy" in first, "4: calls beyond the per-uid bound are refused at once (Busy)",
       first)
other = subprocess.Popen(OTHER + ["gdbus", "call", "--system", "--dest", "org.vbus1",
                                  "--object-path", "/org/vbus1", "--method",
                                  "org.vbus1.Manager.Define",
                                  "{'name': <'other1'>, 'kind': <'pci'>, 'parent': "
                                  "<'0000:00:1c.4'>, 'start': <'manual'>}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(1.5)
mock.SimulateHang(False)
mock.ReleaseHangingCalls()
try:
    oout, _ = other.communicate(timeout=40)
except subprocess.TimeoutExpired:
    other.kill()
    oout = "no answer"
tap.ok(other.returncode == 0 and os.path.exists(f"{D}/other1.json"),
       "4: another uid's (1) Define goes through once polkit answers", oout)
fl.kill()
fl.wait()
tap.ok(env.vbusd.poll() is None, "4: vbusd is alive")

# Last of the D-Bus part: a FIFO read by vbusd blocks it for good (the trial's finding).
# ---- 1. Import -----------------------------------------------------------------------------
mock.SetAllowed(["org.vbus1.manage"])
secret = os.path.join(env.t, "secret")
with open(secret, "w") as f:
    f.write("root:SECRET-HASH:19000:0:99999:7:::\n")
os.chmod(secret, 0o600)
L = os.path.join(env.t, "L")
os.mkdir(L)
os.chmod(L, 0o777)
os.symlink(secret, os.path.join(L, "pci-0000:00:01.0"))
os.symlink("/dev/zero", os.path.join(L, "pci-0000:00:01.1"))
os.mkfifo(os.path.join(L, "pci-0000:00:01.2"))
with open(os.path.join(L, "pci-0000:00:01.3"), "w") as f:
    f.write("SECRET-LINE not a driver\n")
M = os.path.join(env.t, "M")
os.makedirs(os.path.join(M, "0000:00:02.0"))
os.symlink(os.path.dirname(secret), os.path.join(M, "linked-parent"))

rc, out = gdbus(NOBODY, "Import", "driverctl", L, timeout=20)
tap.ok(rc != 0 and "AccessDenied" in out and "SECRET" not in out,
       "1: Import from a directory of a non-root caller's choosing is refused (AccessDenied)", out)
rc, out = gdbus(NOBODY, "Import", "driverctl", "/etc/driverctl.d")
tap.ok(rc == 0, "1: ... the standard directory is still open to that caller", out)
t0 = time.time()
err, rep = call("Import", "driverctl", L, timeout=20)
took = time.time() - t0
reasons = {str(e["source"]).rsplit("/", 1)[-1]: str(e["reason"]) for e in rep} if not err else {}
tap.ok(err is None and took < 5, f"1: root's Import of links, a FIFO and /dev/zero returns ({took:.2f} s)",
       rep)
tap.ok("not followed" in reasons.get("pci-0000:00:01.0", "") and
       "not followed" in reasons.get("pci-0000:00:01.1", "") and
       "not a regular file" in reasons.get("pci-0000:00:01.2", ""),
       "1: ... the links are not followed, the FIFO is not read", reasons)
tap.ok("SECRET" not in json.dumps(reasons) and "SECRET" not in log_text(),
       "1: ... no file content in the reply or the log", reasons)
err, rep = call("Import", "mdevctl", M, timeout=20)
tap.ok(err is None and any("not followed" in str(e["reason"]) for e in rep),
       "1: mdevctl import does not follow a linked parent directory", rep)
tap.ok(env.vbusd.poll() is None, "1: vbusd is alive")

env.kill_vbusd()  # SIGKILL: a vbusd blocked on a FIFO would not handle SIGTERM
env.close()

# ---- --root: 5, 6 (file inputs) and 7 --------------------------------------------------------
t = tempfile.mkdtemp(prefix="vbus-holes.")
R = os.path.join(t, "root")
shutil.copytree(os.path.join(SRC, "tests/data/host-mixed"), R, symlinks=True)
RD = f"{R}/etc/vbus/devices.d"
os.unlink(f"{RD}/broken.json")


def vbusctl(*args, timeout=30):
    try:
        p = subprocess.run([VBUSCTL, "--root", R, *args], capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        return None, "timed out"


# 5. An mdevctl directory whose name is not UTF-8: reported (escaped) and skipped.
bad_dir = os.path.join(t, "m", "pa\udcffx")
os.makedirs(bad_dir)
with open(os.path.join(bad_dir, "11111111-2222-4333-8444-000000000009"), "w") as f:
    f.write('{"mdev_type": "mtty-2", "start": "manual"}')
rc, out = vbusctl("-j", "import", "mdevctl", os.path.join(t, "m"))
tap.ok(rc == 0 and "pa\\\\xffx" in out and "not valid UTF-8" in out and
       not os.path.exists(f"{RD}/11111111-2222-4333-8444-000000000009.json"),
       "5: import of an mdevctl parent named with a byte that is not UTF-8: reported, skipped",
       out)

with open(f"{t}/nul.json", "w") as f:
    f.write('{"version": 1, "name": "a\\u0000b", "kind": "pci", "parent": "0000:04:00.0"}\n')
rc, out = vbusctl("define", "--jsonfile", f"{t}/nul.json")
tap.ok(rc == 1 and not os.path.exists(f"{RD}/a.json") and "NUL" in out,
       '6: "a\\u0000b" is refused, not defined as "a"', out)
with open(f"{t}/nan.json", "w") as f:
    f.write('{"version": 1, "name": "n1", "kind": "pci", "parent": "0000:04:00.0", "w": NaN}\n')
rc, out = vbusctl("define", "--jsonfile", f"{t}/nan.json")
tap.ok(rc == 1 and not os.path.exists(f"{RD}/n1.json"), "6: NaN in --jsonfile is refused", out)
with open(f"{t}/trail.json", "w") as f:
    f.write("[] x\n")
rc, out = vbusctl("apply", f"{t}/trail.json")
tap.ok(rc == 1 and "trailing" in out, "6: apply refuses trailing data after the list", out)
with open(f"{t}/big.json", "w") as f:
    json.dump({"version": 1, "name": "big1", "kind": "pci", "parent": "0000:04:00.0",
               "note": "x" * (2 << 20)}, f)
rc, out = vbusctl("define", "--jsonfile", f"{t}/big.json")
tap.ok(rc == 1 and not os.path.exists(f"{RD}/big1.json"), "6: a 2 MiB definition file is refused",
       out)

# 7. stop of a manual pci definition vbus never started.
rc, out = vbusctl("define", "p4", "--kind", "pci", "--parent", "0000:04:00.0", "--driver",
                  "vfio-pci", "--manual")
rc, out = vbusctl("stop", "p4")
tap.ok(rc == 0 and "cannot remove" not in out,
       "7: stop of a never-started manual pci definition does not fail after acting", out)
# 7. temporaries of killed writers in run/vbus are swept.
os.makedirs(f"{R}/run/vbus", exist_ok=True)
with open(f"{R}/run/vbus/.#x1.json.AbCdEf", "w") as f:
    f.write("{")
rc, out = vbusctl("define", "sw1", "--kind", "pci", "--parent", "0000:05:00.0", "--manual")
tap.ok(rc == 0 and not os.path.exists(f"{R}/run/vbus/.#x1.json.AbCdEf"),
       "7: a .# temporary left in run/vbus is swept at the next lock", out)
# 7. a driver whose module serves no such bus is not loaded.
rc, out = vbusctl("assign", "p4", "floppy")
tap.ok(rc == 1 and "provides a pci driver" in out,
       "7: assign to a module that provides no pci driver is refused before modprobe", out)
# 7. uppercase mdev uuids are stored in lowercase.
rc, out = vbusctl("define", "u1", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2",
                  "--uuid", "ABCDEF01-2345-4678-9ABC-DEF012345678", "--manual")
stored = json.load(open(f"{RD}/u1.json")).get("uuid") if os.path.exists(f"{RD}/u1.json") else None
tap.ok(rc == 0 and stored == "abcdef01-2345-4678-9abc-def012345678",
       "7: an uppercase mdev uuid is stored in lowercase", out, stored)
# 7. a FIFO in devices.d or policy.d does not hang a reader.
os.mkfifo(f"{RD}/fifo.json")
os.makedirs(f"{R}/etc/vbus/policy.d", exist_ok=True)
os.mkfifo(f"{R}/etc/vbus/policy.d/fifo.json")
rc, out = vbusctl("list", "--defined", timeout=20)
tap.ok(rc == 0 and "p4" in out and "fifo.json" in out,
       "7: a FIFO in devices.d is reported and skipped, not read", out)
rc, out = vbusctl("create", "c1", "--kind", "pci", "--parent", "0000:05:00.0", "--driver", "auto",
                  "--manual", timeout=20)
tap.ok(rc is not None, "7: a FIFO in policy.d does not hang a command that reads policy", out)

if not os.environ.get("KEEP"):
    shutil.rmtree(t, ignore_errors=True)
sys.exit(tap.done())
