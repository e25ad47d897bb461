#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every golden vbusctl transcript (tests/data/cli-*) twice: in-process (vbusctl --root on a
scratch copy of the case's tree) and through vbusd (vbusctl without --root, vbusd --root on
another copy of the same tree, on a private system bus). Both must print the same lines and
exit codes: one decision path (DESIGN.md). Both sides play the kernel with the same fake
(tests/integration/fake-kernel.c), so starts and stops really happen. TAP output.

Usage: transcripts.py VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR [CASE...] (as root: vbusd owns
org.vbus1 under the real bus policy, which lets only root own it)
"""
import difflib
import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Commands that cannot mean the same through vbusd, with the reason; they run in-process on
# both sides so that the rest of the transcript still compares. Keep this short: any other
# difference is a bug in vbusd or in vbusctl's bus transport. Besides these, a command that
# names --root or --direct itself is about the in-process path: it runs as the in-process side
# runs it, and the runner says so.
IN_PROCESS_ONLY = {
    ("cli-usage", "monitor"):
        "with --root monitor is a usage error; through vbusd it streams events until killed",
    ("cli-cdi", None):
        "vbusd's reconcile at its start gives gpu-desktop its driver and writes the CDI specs "
        "before the first command; in-process nothing runs before it",
}
# vbusctl reads /etc/vbus/configs.d itself (below --root when given) and sends the list to
# vbusd's Apply: through vbusd it reads the host's, not the one of vbusd's --root.
IN_PROCESS_ONLY.update({
    ("cli-select", "config " + c): "vbusctl reads the config from its own root, not vbusd's"
    for c in ("list", "apply t4-1b --dry-run", "apply t4-1b", "apply nope", "apply empty")})
# A parent removed by hand in the tree sends vbusd no uevent (tests/integration/select.sh
# removes parents with their uevents).
IN_PROCESS_ONLY.update({
    ("cli-fill", c): "the parent went without a uevent, which vbusd would follow"
    for c in ("list --all", "start t4-0000:af:00.0-1")})
# cli-templates changes vbus management devices in the tree by hand: vbusd would hear of them
# from vbus.ko's monitor group and the parent's uevent, neither of which a tree sends.
IN_PROCESS_ONLY[("cli-templates", "list --all")] = \
    "virtbus devices and management devices changed by hand, without vbus.ko's events"


def names_its_root(words):
    return any(w in ("--root", "--direct") or w.startswith("--root=") for w in words)


def load_test_cli(src):
    spec = importlib.util.spec_from_file_location("test_cli", os.path.join(src, "tests",
                                                                           "test-cli.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Vbusd:
    """vbusd-fake-kernel --root on the case's scratch tree; vbusctl reaches it over the bus."""

    def __init__(self, vbusd, bus_address, tmp, case):
        self.vbusd, self.bus_address, self.case = vbusd, bus_address, os.path.basename(case)
        self.log = os.path.join(tmp, self.case + ".vbusd.log")
        self.proc = None
        self.lost = None
        self.own_root = []

    def start(self, root, env):
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        self.root = root
        if (self.case, None) in IN_PROCESS_ONLY:
            return  # no vbusd on the tree at all: it would act on it before the first command
        notify = os.path.join(os.path.dirname(self.log), self.case + ".notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(notify)
        s.settimeout(0.2)
        denv = dict(env, NOTIFY_SOCKET=notify)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([self.vbusd, "--root", root, "--log-level=debug"],
                                         env=denv, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if b"READY=1" in s.recv(4096).split(b"\n"):
                        break
                except socket.timeout:
                    pass
            else:
                # Said in the transcript's verdict; the commands then fail visibly.
                self.lost = f"vbusd did not get ready (status {self.proc.poll()})"
        finally:
            s.close()
            os.unlink(notify)

    def argv(self, vbusctl, root, words):
        if ((self.case, " ".join(words)) in IN_PROCESS_ONLY or
                (self.case, None) in IN_PROCESS_ONLY):
            return [vbusctl, "--root", root] + words
        if self.proc is None or names_its_root(words):
            self.own_root.append(" ".join(w.replace(root, "$ROOT") for w in words))
            return [vbusctl, "--root", root] + words
        if self.proc.poll() is not None and self.lost is None:
            self.lost = f"vbusd exited with {self.proc.returncode} before: {' '.join(words)}"
        return [vbusctl] + words

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is not None and self.lost is None:
            self.lost = f"vbusd exited with {self.proc.returncode}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if rc and self.lost is None:
            self.lost = f"vbusd ended with status {rc} on SIGTERM"
        # The bus lets the name go when it sees the connection close: the next case's vbusd
        # must not ask for it before.
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address)
        for _ in range(100):
            if subprocess.run(["busctl", "status", "org.vbus1"], env=env,
                              capture_output=True).returncode:
                break
            time.sleep(0.05)


def main():
    vbusctl, vbusd, src = (os.path.realpath(a) for a in sys.argv[1:4])
    test_cli = load_test_cli(src)
    data_dir = os.path.join(src, "tests", "data")
    cases = sorted(glob.glob(os.path.join(data_dir, "cli-*")))
    if sys.argv[4:]:
        cases = [c for c in cases if os.path.basename(c) in sys.argv[4:]]
    tmp = tempfile.mkdtemp(prefix="vbus-transcripts-")
    os.chmod(tmp, 0o755)
    sock = os.path.join(tmp, "bus")
    with open(os.path.join(src, "tests", "integration", "bus.conf.in")) as f:
        conf = f.read().replace("@SOCKET@", sock).replace("@UNITS@",
                                                          os.path.join(src, "units"))
    with open(os.path.join(tmp, "bus.conf"), "w") as f:
        f.write(conf)
    dbus = subprocess.Popen(["dbus-daemon", "--config-file=" + os.path.join(tmp, "bus.conf"),
                             "--nofork"], stderr=subprocess.DEVNULL)
    failed = 0
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        print(f"1..{len(cases)}")
        for (case, cmd), why in sorted(IN_PROCESS_ONLY.items(), key=str):
            print(f"# in-process on both sides: {case}: {cmd or 'every command'}: {why}")
        for i, case in enumerate(cases, 1):
            name = os.path.basename(case)
            t0 = time.monotonic()
            direct = test_cli.run_case(vbusctl, case, data_dir)
            t1 = time.monotonic()
            session = Vbusd(vbusd, "unix:path=" + sock, tmp, case)
            bus = test_cli.run_case(vbusctl, case, data_dir, session)
            t2 = time.monotonic()
            timing = f"({t1 - t0:.1f} s in-process, {t2 - t1:.1f} s through vbusd)"
            for cmd in session.own_root:
                print(f"# in-process on both sides: {name}: {cmd}: names its own root")
            if direct == bus and not session.lost:
                print(f"ok {i} - {name}: the same {len(bus)} lines through vbusd {timing}")
                continue
            failed += 1
            print(f"not ok {i} - {name}: through vbusd differs {timing}")
            if session.lost:
                print(f"# {session.lost}")
            for line in difflib.unified_diff(direct, bus, "in-process", "through vbusd",
                                             lineterm=""):
                print("# " + line)
            with open(session.log) as f:
                tail = f.read().splitlines()[-30:]
            print("# vbusd log (last lines):")
            for line in tail:
                print("#   " + line)
    finally:
        dbus.terminate()
        dbus.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
