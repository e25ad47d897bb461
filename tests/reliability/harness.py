# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the reliability tests share: vbusd on a private system bus over a scratch copy of a
fake host tree (as tests/integration/run.sh sets it up), a D-Bus client, TAP output."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dbus

MANAGER = "org.vbus1.Manager"


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.notes = []

    def ok(self, cond, what, *details):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {what}", flush=True)
            # meson shows a failed test's stderr only: the reasons and the notes (the seed to
            # replay) go there too.
            if self.failed == 1:
                for line in self.notes:
                    print(f"# {line}", file=sys.stderr, flush=True)
            print(f"not ok {self.n} - {what}", file=sys.stderr, flush=True)
            for d in details:
                for line in str(d).splitlines() or [""]:
                    print(f"# {line}", flush=True)
                    print(f"# {line}", file=sys.stderr, flush=True)
        return cond

    def note(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)
            self.notes.append(line)

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


class Env:
    """A private dbus-daemon with the real org.vbus1 policy, and a root tree for vbusd."""

    def __init__(self, src, tree="host-mixed"):
        self.src = os.path.realpath(src)
        self.t = tempfile.mkdtemp(prefix="vbus-reliability.")
        os.chmod(self.t, 0o755)
        self.root = os.path.join(self.t, "root")
        shutil.copytree(os.path.join(self.src, "tests/data", tree), self.root, symlinks=True)
        broken = os.path.join(self.root, "etc/vbus/devices.d/broken.json")
        if os.path.exists(broken):
            os.unlink(broken)
        conf = open(os.path.join(self.src, "tests/integration/bus.conf.in")).read()
        conf = conf.replace("@SOCKET@", os.path.join(self.t, "bus"))
        conf = conf.replace("@UNITS@", os.path.join(self.src, "units"))
        with open(os.path.join(self.t, "bus.conf"), "w") as f:
            f.write(conf)
        self.address = "unix:path=" + os.path.join(self.t, "bus")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        self.dbus = subprocess.Popen(["dbus-daemon", "--config-file=" + self.t + "/bus.conf",
                                      "--nofork"], stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(os.path.join(self.t, "bus")):
                break
            time.sleep(0.02)
        self.vbusd = None
        self.exe = None
        self.log = open(os.path.join(self.t, "vbusd.log"), "ab")
        self.others = []
        self._bus = None

    def bus(self):
        if self._bus is None:
            self._bus = dbus.bus.BusConnection(self.address)
        return self._bus

    def manager(self, bus=None):
        b = bus or self.bus()
        return dbus.Interface(b.get_object("org.vbus1", "/org/vbus1", introspect=False),
                              MANAGER)

    def start_vbusd(self, exe, extra_env=None, timeout=20):
        """Starts vbusd and waits for READY=1 (Type=notify); returns True when it came."""
        self.exe = exe
        path = os.path.join(self.t, "notify")
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(timeout)
        env = dict(os.environ, NOTIFY_SOCKET=path, **(extra_env or {}))
        self.vbusd = subprocess.Popen([exe, "--root", self.root, "--log-level=debug"],
                                      stdout=self.log, stderr=self.log, env=env)
        ready = False
        try:
            while not ready:
                msg = s.recv(4096).decode()
                ready = "READY=1" in msg.split("\n")
        except socket.timeout:
            pass
        s.close()
        return ready

    def kill_vbusd(self, sig=signal.SIGKILL):
        if self.vbusd and self.vbusd.poll() is None:
            self.vbusd.send_signal(sig)
        rc = self.vbusd.wait() if self.vbusd else None
        self.vbusd = None
        return rc

    def vm_hwm_kb(self):
        for line in open(f"/proc/{self.vbusd.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return -1

    def vm_rss_kb(self):
        for line in open(f"/proc/{self.vbusd.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1

    def log_tail(self, n=30):
        self.log.flush()
        with open(os.path.join(self.t, "vbusd.log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def devices_dir(self):
        return os.path.join(self.root, "etc/vbus/devices.d")

    def stored(self):
        """name -> parsed definition of every devices.d/*.json; raises on a file that does
        not parse."""
        out = {}
        d = self.devices_dir()
        for f in sorted(os.listdir(d)):
            if f.startswith(".") or not f.endswith(".json"):
                continue
            with open(os.path.join(d, f)) as fh:
                out[f[:-5]] = json.load(fh)
        return out

    def close(self):
        for p in self.others:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.vbusd:
            self.kill_vbusd(signal.SIGTERM)
        if self._bus is not None:
            self._bus.close()
        self.dbus.terminate()
        self.dbus.wait()
        self.log.close()
        if not os.environ.get("KEEP"):
            shutil.rmtree(self.t, ignore_errors=True)
        else:
            print(f"# kept {self.t}")


def list_devices(mgr, flags, name="", timeout=30):
    """Manager.ListDevices: the JSON document (a list of dicts) read from its memfd."""
    import json
    fd = mgr.ListDevices(dbus.UInt32(flags), name, timeout=timeout).take()
    try:
        return json.loads(os.pread(fd, os.fstat(fd).st_size, 0).decode())
    finally:
        os.close(fd)


def sv(d):
    """A dict as a{sv}, with the types vbusctl sends."""
    out = {}
    for k, v in d.items():
        if isinstance(v, bool):
            out[k] = dbus.Boolean(v, variant_level=1)
        elif isinstance(v, int):
            out[k] = dbus.Int64(v, variant_level=1)
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[k] = dbus.Array(v, signature="s", variant_level=1)
        elif isinstance(v, list):
            out[k] = dbus.Array([sv(x) for x in v], signature="v", variant_level=1)
        else:
            out[k] = dbus.String(v, variant_level=1)
    return dbus.Dictionary(out, signature="sv")


def error_name(e):
    return e.get_dbus_name() if isinstance(e, dbus.DBusException) else type(e).__name__
