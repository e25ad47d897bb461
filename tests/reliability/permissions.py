#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Permission sweep: every member of org.vbus1 that changes something, called as uid 65534 on
targets where root's call would succeed (an active mdev, a stopped definition), is refused with
org.vbus1.Error.AccessDenied and changes nothing (tree, listing, objects); the same through
vbusctl (exit 1, "access denied"); writable-looking properties are read-only. Then polkit as
python3-dbusmock's polkitd template: org.vbus1.manage denied, allowed, another action allowed,
and a hanging polkit that must not stall vbusd for others. tests/integration/run.sh checks the
basic refusal with a stand-in polkit; this extends it. TAP.
Usage: permissions.py VBUSD VBUSCTL SRCDIR VBUSD_FAKE_KERNEL"""
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbus  # noqa: E402
from harness import Env, Tap, sv, list_devices  # noqa: E402

VBUSD, VBUSCTL, SRC, VBUSD_FK = sys.argv[1:5]
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
tap = Tap()
env = Env(SRC)


def digest():
    h = hashlib.md5()
    for top, dirs, files in os.walk(env.root):
        dirs.sort()
        for f in sorted(files + dirs):
            p = os.path.join(top, f)
            st = os.lstat(p)
            h.update(f"{p} {st.st_size} {st.st_mtime_ns} {st.st_mode}\n".encode())
            if os.path.isfile(p) and not os.path.islink(p) and st.st_size < 65536:
                try:
                    h.update(open(p, "rb").read())
                except OSError:
                    pass
    return h.hexdigest()


def listing():
    m = env.manager()
    return json.dumps([{str(k): str(v) for k, v in d.items()}
                       for d in list_devices(m, 3)], sort_keys=True)


def gdbus_nobody(method, *args, interface="org.vbus1.Manager", path="/org/vbus1"):
    p = subprocess.run(NOBODY + ["gdbus", "call", "--system", "--dest", "org.vbus1",
                                 "--object-path", path, "--method", f"{interface}.{method}",
                                 *args], capture_output=True, text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


def vbusctl(*args, nobody=False):
    p = subprocess.run((NOBODY if nobody else []) + [VBUSCTL, *args], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


tap.ok(env.start_vbusd(VBUSD_FK), "vbusd (fake kernel) starts")
rc, out = vbusctl("create", "act1", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2",
                  "--manual")
tap.ok(rc == 0, "root: create act1 (an active mdev to stop, remove, assign)", out)
rc, out = vbusctl("define", "def1", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2",
                  "--manual")
tap.ok(rc == 0, "root: define def1 (a stopped definition to start, modify, undefine)", out)
with open(os.path.join(env.t, "apply.json"), "w") as f:
    json.dump([{"name": "ap1", "kind": "pci", "parent": "0000:05:00.0", "driver": "vfio",
                "start": "manual"}], f)

# Every changing member, with arguments that root's call would carry out.
members = [
    ("Define", ["{'name': <'nb1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>, "
                "'start': <'manual'>}"]),
    ("Modify", ["def1", "{'driver': <'vfio'>}"]),
    ("Modify", ["act1", "{'tags': <['x']>}"]),
    ("Undefine", ["def1"]),
    ("Start", ["def1"]),
    ("StartWithFlags", ["def1", "1"]),
    ("Stop", ["act1"]),
    ("Create", ["{'name': <'nb2'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}",
                "''", "0"]),
    ("Create", ["{'name': <'nb3'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}",
                "''", "1"]),
    ("Create", ["{'name': <'nb4'>, 'parent': <'0000:03:00.0'>, 'index': <int64 2>}", "'vm'",
                "0"]),
    ("Remove", ["act1"]),
    ("Assign", ["act1", "vfio"]),
    ("Apply", ["[{'name': <'ap1'>, 'kind': <'pci'>, 'parent': <'0000:05:00.0'>}]", "0"]),
    ("Import", ["mdevctl", "''"]),
    ("Import", ["driverctl", "''"]),
    ("ImportWithFlags", ["mdevctl", "''", "1"]),
]


def sweep(label):
    before_tree, before_list = digest(), listing()
    bad = []
    for method, args in members:
        rc, out = gdbus_nobody(method, *args)
        if rc == 0 or "GDBus.Error:org.vbus1.Error.AccessDenied:" not in out:
            bad.append(f"{method} {args[0][:40]}: {out}")
    tap.ok(not bad, f"{label}: all {len(members)} changing calls refused with AccessDenied",
           *bad)
    tap.ok(digest() == before_tree, f"{label}: the tree (etc, run, sys) is unchanged")
    tap.ok(listing() == before_list, f"{label}: ListDevices is unchanged")


sweep("uid 65534, no polkit")

# Through vbusctl: each verb exits 1 and says why.
verbs = [["define", "nb5", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2"],
         ["modify", "def1", "--driver", "vfio"], ["undefine", "def1"], ["start", "def1"],
         ["stop", "act1"], ["remove", "act1"], ["assign", "act1", "vfio"],
         ["create", "nb6", "--kind", "mdev", "--parent", "mtty", "--type", "mtty-2"],
         ["apply", os.path.join(env.t, "apply.json")], ["import", "mdevctl"],
         ["import", "driverctl"]]
before = digest()
bad = []
for v in verbs:
    rc, out = vbusctl(*v, nobody=True)
    if rc != 1 or "access denied" not in out:
        bad.append(f"vbusctl {' '.join(v)}: rc={rc}: {out}")
tap.ok(not bad, f"vbusctl as uid 65534: {len(verbs)} changing verbs exit 1 with 'access denied'",
       *bad)
tap.ok(digest() == before, "vbusctl as uid 65534: nothing changed")

# Properties: none is writable, for anybody.
rc, out = gdbus_nobody("Set", "org.vbus1.Device", "Driver", "<'vfio'>",
                       interface="org.freedesktop.DBus.Properties",
                       path="/org/vbus1/device/act1")
tap.ok(rc != 0 and "act1" not in out.split("Error")[0], "Device.Driver cannot be set by uid 65534",
       out)
try:
    env.bus().call_blocking("org.vbus1", "/org/vbus1/device/act1",
                            "org.freedesktop.DBus.Properties", "Set", "ssv",
                            ("org.vbus1.Device", "Driver", dbus.String("vfio", variant_level=1)))
    tap.ok(False, "Device.Driver cannot be set, even by root")
except dbus.DBusException as e:
    tap.ok(True, f"Device.Driver cannot be set, even by root ({e.get_dbus_name()})")
tap.ok(env.vbusd.poll() is None, "vbusd is alive after the sweep")

# ---- polkit: python3-dbusmock's polkitd template ------------------------------------------------
pk = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--template", "polkitd", "--system"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
env.others.append(pk)
for _ in range(200):
    if env.bus().name_has_owner("org.freedesktop.PolicyKit1"):
        break
    time.sleep(0.05)
tap.ok(env.bus().name_has_owner("org.freedesktop.PolicyKit1"), "dbusmock polkitd is on the bus")
mock = dbus.Interface(env.bus().get_object("org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority"),
                      "org.freedesktop.DBus.Mock")

sweep("polkit denies org.vbus1.manage")
mock.SetAllowed(["org.vbus1.other", "org.freedesktop.systemd1.manage-units"])
sweep("polkit allows only other actions")

mock.SetAllowed(["org.vbus1.manage"])
allowed = [
    ("Define", ["{'name': <'pk1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>, "
                "'start': <'manual'>}"], lambda: os.path.exists(f"{env.root}/etc/vbus/devices.d/pk1.json")),
    ("Modify", ["pk1", "{'driver': <'vfio'>}"],
     lambda: json.load(open(f"{env.root}/etc/vbus/devices.d/pk1.json"))["driver"] == "vfio"),
    ("Start", ["def1"], lambda: "b true" in subprocess.run(
        ["busctl", "get-property", "org.vbus1", "/org/vbus1/device/def1", "org.vbus1.Device",
         "Active"], capture_output=True, text=True).stdout),
    ("Stop", ["def1"], lambda: "b false" in subprocess.run(
        ["busctl", "get-property", "org.vbus1", "/org/vbus1/device/def1", "org.vbus1.Device",
         "Active"], capture_output=True, text=True).stdout),
    ("Undefine", ["pk1"], lambda: not os.path.exists(f"{env.root}/etc/vbus/devices.d/pk1.json")),
    ("Create", ["{'name': <'pk2'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>, "
                "'start': <'manual'>}", "''", "0"],
     lambda: os.path.exists(f"{env.root}/etc/vbus/devices.d/pk2.json")),
    ("Remove", ["pk2"], lambda: not os.path.exists(f"{env.root}/etc/vbus/devices.d/pk2.json")),
]
bad = []
for method, args, effect in allowed:
    rc, out = gdbus_nobody(method, *args)
    if rc != 0 or not effect():
        bad.append(f"{method}: rc={rc}: {out}")
tap.ok(not bad, f"polkit allows org.vbus1.manage: uid 65534's {len(allowed)} calls are carried out",
       *bad)
rc, out = vbusctl("define", "pk3", "--kind", "pci", "--parent", "0000:05:00.0", "--driver",
                  "vfio", "--manual", nobody=True)
tap.ok(rc == 0 and os.path.exists(f"{env.root}/etc/vbus/devices.d/pk3.json"),
       "polkit allows: vbusctl define as uid 65534 works", out)

# A polkit that does not answer must not stall vbusd for everybody else.
mock.SimulateHang(True)
hung = subprocess.Popen(NOBODY + ["gdbus", "call", "--system", "--dest", "org.vbus1",
                                  "--object-path", "/org/vbus1", "--method",
                                  "org.vbus1.Manager.Undefine", "pk3"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(0.5)
t0 = time.time()
try:
    list_devices(env.manager(), 1, timeout=5)
    answered = time.time() - t0
except dbus.DBusException as e:
    answered = None
    tap.note(str(e))
tap.ok(answered is not None and answered < 2,
       f"while polkit hangs on one call, vbusd answers others ({answered and round(answered, 3)} s)")
rc, out = vbusctl("define", "root1", "--kind", "pci", "--parent", "0000:04:00.0", "--manual")
tap.ok(rc == 0, "... and root's changes go through meanwhile", out)
tap.ok(os.path.exists(f"{env.root}/etc/vbus/devices.d/pk3.json"),
       "the call waiting for polkit has not acted yet")
mock.SetAllowed([])
mock.ReleaseHangingCalls()
try:
    out, _ = hung.communicate(timeout=30)
except subprocess.TimeoutExpired:
    hung.kill()
    out = "no answer"
tap.ok("org.vbus1.Error.AccessDenied" in out or hung.returncode == 0,
       "the waiting call is answered once polkit answers", out)
# The mock answered with the verdict it had when asked (allowed): pk3 is gone or not, per that
# answer; what matters is that the answer came and vbusd lives.
mock.SimulateHang(False)
tap.ok(env.vbusd.poll() is None and list_devices(env.manager(), 1) is not None,
       "vbusd is alive after the polkit round trips")

pk.terminate()
pk.wait()
rc, out = vbusctl("undefine", "root1", nobody=True)
tap.ok(rc == 1 and "access denied" in out, "polkit gone: uid 65534 refused again", out)
env.close()
sys.exit(tap.done())
