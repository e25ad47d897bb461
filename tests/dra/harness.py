# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the vbus-dra suites share: a vbus-dra process with its log, and the pool as the stand-in
API server holds it (suite.py on the fake tree, vm.py in the VM on the real kernel)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time


def die_with_us():
    """In a child before exec: SIGKILL when the suite goes (killed by meson's timeout too)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def wait_until(pred, timeout, step=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def run(*args, check=True, timeout=120):
    """ARGS' output; with CHECK a failure raises, naming the command and its stderr."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def listing(vbusctl, *opts):
    """Name -> entry of `vbusctl -j list OPTS`."""
    return {e["name"]: e for e in json.loads(run(vbusctl, "-j", "list", *opts))}


def cdi_list(vbusctl):
    return json.loads(run(vbusctl, "-j", "cdi", "list"))


def on_crash(t, end):
    """sys.excepthook: an exception in a suite is a failed check with its traceback and the
    last lines of vbus-dra's log; every vbus-dra is killed, then END() ends the run."""
    def crashed(typ, value, tb):
        import traceback
        t.not_ok(f"the suite ran to its end ({typ.__name__}: {value})",
                 traceback.format_exception(typ, value, tb))
        if Dra.all:
            t.diag("vbus-dra's last log lines:")
            t.diag("\n".join(Dra.all[-1].tail(40)))
        for d in Dra.all:
            if d.proc.poll() is None:
                d.proc.kill()
        end()
    sys.excepthook = crashed


class Dra:
    """One vbus-dra process (ARGV after the binary); its stderr is kept in LOG and in lines
    (shown when something fails); ready is set at its "vbus-dra: ready" line."""

    all = []

    def __init__(self, binary, argv, log, wrapper=(), env=None):
        self.lines = []
        self.ready = threading.Event()
        self.log = open(log, "w")
        environ = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        environ.update(env or {})
        self.proc = subprocess.Popen(
            [*wrapper, binary, *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=environ, preexec_fn=die_with_us)
        threading.Thread(target=self._read, daemon=True).start()
        Dra.all.append(self)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self.log.write(line)
            self.log.flush()
            if line.strip() == "vbus-dra: ready":
                self.ready.set()

    def wait_ready(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready.wait(0.1):
                return True
            if self.proc.poll() is not None:
                return False
        return False

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def tail(self, n=30):
        return self.lines[-n:]


# ---- the pool on the stand-in API server ---------------------------------------------------------

def pool_slices(srv, node, driver):
    slices, _ = srv.snapshot()
    return {n: s for n, s in slices.items() if s["spec"].get("nodeName") == node and
            s["spec"].get("driver") == driver}


def attr(d, key, driver):
    """Attribute KEY of slice device D, unqualified or qualified with DRIVER."""
    a = d.get("attributes") or {}
    return a.get(key) or a.get(f"{driver}/{key}")


def is_on_demand(d, driver):
    return attr(d, "createOnDemand", driver) == {"bool": True}


def on_demand(srv, node, driver):
    """Device name -> device of the devices published to be made on demand (KEP 4815)."""
    return {d["name"]: d for s in pool_slices(srv, node, driver).values()
            for d in s["spec"].get("devices") or [] if is_on_demand(d, driver)}


def counter_sets(srv, node, driver):
    return {cs["name"]: cs["counters"] for s in pool_slices(srv, node, driver).values()
            for cs in s["spec"].get("sharedCounters") or []}


def published(srv, node, driver):
    """vbus name -> (device name, device, slice name, generation) of the pool as stored."""
    out = {}
    for sname, s in pool_slices(srv, node, driver).items():
        for d in s["spec"].get("devices") or []:
            if is_on_demand(d, driver):
                continue
            v = (attr(d, "name", driver) or {}).get("string", d["name"])
            out[v] = (d["name"], d, sname, s["spec"]["pool"]["generation"])
    return out
