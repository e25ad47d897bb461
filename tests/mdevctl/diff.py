#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Differential test: vbusctl run as "mdevctl" against Debian's mdevctl 1.2.0.

Each command runs through both programs, each in a private mount namespace over its own copy
of the same fake host (the copy's sys bound on /sys; mdevctl keeps /etc/mdevctl.d, vbus
/etc/vbus and /run/vbus). Compared per command: standard output (JSON parsed when it is
JSON), exit status, and every file of the fake sysfs (what was written where). Standard error
may word a failure differently and is only shown. TAP output. Needs root (unshare -m).

Usage: diff.py VBUSCTL DATA_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

VBUSCTL, DATA = sys.argv[1], sys.argv[2]
U1 = "11111111-2222-4333-8444-555555555555"
U2 = "22222222-2222-4333-8444-555555555555"
U3 = "33333333-2222-4333-8444-555555555555"
U4 = "44444444-2222-4333-8444-555555555555"
ACTIVE = "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10"
LIBVIRT_JSON = '{"mdev_type":"mtty-2","start":"manual","attrs":[{"a":"b"}]}'

# (arguments, standard input). Every option of mdevctl 1.2 that changes or reads definitions,
# in the forms libvirt 9.0 passes them (--opt=value, --jsonfile=/dev/stdin) and the short ones.
STEPS = [
    (["list"], None),
    (["list", "--dumpjson"], None),
    (["list", "-v"], None),
    (["list", "-d"], None),
    (["list", "--defined", "--dumpjson"], None),
    (["types"], None),
    (["types", "--dumpjson"], None),
    (["types", "-p", "mtty"], None),
    (["types", "--parent", "nope", "--dumpjson"], None),
    (["list", "-u", ACTIVE, "--dumpjson"], None),
    (["list", "--uuid=" + ACTIVE, "--parent=0000:00:02.0"], None),
    (["define", "-u", U1, "-p", "mtty", "-t", "mtty-1"], None),
    (["define", "-u", U1, "-p", "mtty", "-t", "mtty-1"], None),
    (["define", "--uuid", U2, "--parent", "mtty", "--type", "mtty-2", "--auto"], None),
    (["define", "--parent=mtty", "--jsonfile=/dev/stdin", "--uuid=" + U3], LIBVIRT_JSON),
    (["define", "-u", U4, "-p", "mtty"], None),
    (["define", "-u", U4], None),
    (["define", "-u", "not-a-uuid", "-p", "mtty", "-t", "mtty-1"], None),
    (["define", "-u", U4, "-p", "mtty", "-t", "mtty-1", "--jsonfile", "/dev/stdin"],
     LIBVIRT_JSON),
    (["define", "-u", ACTIVE, "--auto"], None),
    (["list"], None),
    (["list", "-v"], None),
    (["list", "-d"], None),
    (["list", "-d", "--dumpjson"], None),
    (["list", "-d", "-v"], None),
    (["list", "-d", "-u", U3, "--dumpjson"], None),
    (["list", "-d", "-p", "mtty"], None),
    (["list", "--defined", "--parent", "nope"], None),
    (["list", "--dumpjson", "--defined"], None),
    (["modify", "--uuid", U1, "--auto"], None),
    (["modify", "-u", U1, "--manual"], None),
    (["modify", "-u", U1, "-t", "mtty-2"], None),
    (["modify", "-u", U1, "--addattr", "a", "--value", "1"], None),
    (["modify", "-u", U1, "--addattr=b", "--value=2", "--index=0"], None),
    (["modify", "-u", U1, "--addattr", "c", "--value", "3", "-i", "1"], None),
    (["list", "-d", "-v", "-u", U1], None),
    (["list", "-d", "--dumpjson", "-u", U1], None),
    (["modify", "-u", U1, "--delattr", "--index", "0"], None),
    (["list", "-d", "-u", U1, "--dumpjson"], None),
    (["modify", "-u", U1, "--delattr"], None),
    (["list", "-d", "-u", U1, "--dumpjson"], None),
    (["modify", "--uuid", U3, "--auto"], None),
    (["modify", "-u", U4, "--auto"], None),
    (["modify", "-u", U1, "--auto", "--manual"], None),
    (["modify", "-u", U1, "--addattr", "x"], None),
    (["modify", "-p", "mtty", "--auto"], None),
    (["start", "-u", U4], None),
    (["stop", "-u", U3], None),
    (["undefine", "--uuid=" + U2], None),
    (["undefine", "-u", U2], None),
    (["undefine", "-u", U3, "-p", "mtty"], None),
    (["list", "-d", "--dumpjson"], None),
    (["bogus-verb"], None),
    (["list", "--bogus-option"], None),
]


def make_tree(dst):
    shutil.copytree(os.path.join(DATA, "host-mixed"), dst, symlinks=True)
    for d in ("etc/vbus/devices.d", "etc/mdevctl.d"):
        shutil.rmtree(os.path.join(dst, d))
        os.makedirs(os.path.join(dst, d))
    for d in ("etc/mdevctl.d/scripts.d/callouts", "etc/mdevctl.d/scripts.d/notifiers",
              "run/vbus"):
        os.makedirs(os.path.join(dst, d), exist_ok=True)
    # A vendor callout of the running GVT-g type: it reports the device's attributes
    # ("get attributes"), which mdevctl shows for the running device it has no definition
    # of, and writes into the definition made of it (define -u ACTIVE). Its calls are
    # logged, to compare what each program asked.
    script = os.path.join(dst, "etc/mdevctl.d/scripts.d/callouts/gvt-attrs")
    with open(script, "w") as f:
        f.write(CALLOUT)
    os.chmod(script, 0o755)


CALLOUT = r'''#!/bin/sh
while getopts t:e:a:s:u:p: o; do
	case $o in t) t=$OPTARG ;; e) e=$OPTARG ;; a) a=$OPTARG ;; s) s=$OPTARG ;;
	u) u=$OPTARG ;; p) p=$OPTARG ;; *) exit 1 ;; esac
done
[ "$t" = i915-GVTg_V5_4 ] || exit 2
echo "-t $t -e $e -a $a -s $s -u $u -p $p" >>/etc/mdevctl.d/callout.log
if [ "$e" = get ] && [ "$a" = attributes ]; then
	echo '[{"weight":"4"},{"display":"on"}]'
fi
exit 0
'''


def run(tree, prog, args, stdin):
    """PROG ARGS in a private mount namespace over TREE."""
    script = ('mount --bind "$0/sys" /sys && mount --bind "$0/etc/mdevctl.d" /etc/mdevctl.d'
              ' && mkdir -p /etc/vbus /run/vbus && mount --bind "$0/etc/vbus" /etc/vbus'
              ' && mount --bind "$0/run/vbus" /run/vbus && exec "$@"')
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent", LC_ALL="C")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script,
                        tree, prog] + args, input=stdin or "", capture_output=True, text=True,
                       env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def sysfs(tree):
    """Every regular file under TREE/sys with its contents."""
    out = {}
    root = os.path.join(tree, "sys")
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def parse(out):
    s = out.strip()
    if s.startswith("[") or s.startswith("{"):
        try:
            return json.loads(s)
        except ValueError:
            pass
    return out


def main():
    if os.geteuid() != 0:
        print("Bail out! needs root (private mount namespaces)")
        sys.exit(1)
    mdevctl = shutil.which("mdevctl")
    if not mdevctl:
        print("Bail out! Debian's mdevctl is missing: run tools/install-deps.sh")
        sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="vbus-mdevctl-diff.")
    alias = os.path.join(tmp, "bin", "mdevctl")
    os.makedirs(os.path.dirname(alias))
    os.symlink(os.path.realpath(VBUSCTL), alias)
    ref, ours = os.path.join(tmp, "ref"), os.path.join(tmp, "vbus")
    make_tree(ref)
    make_tree(ours)
    # Without the private namespace every command fails alike in both, which would compare
    # equal: the setup must work first.
    rc, _, err = run(ref, "true", [], None)
    if rc != 0:
        print(f"Bail out! cannot run a command in a private mount namespace: {err.strip()}")
        sys.exit(1)
    print(f"1..{len(STEPS) + 4}")
    failed = 0
    n = 0
    for args, stdin in STEPS:
        n += 1
        a = run(ref, mdevctl, args, stdin)
        b = run(ours, alias, args, stdin)
        problems = []
        if a[0] != b[0]:
            problems.append(f"exit status: mdevctl {a[0]}, vbus {b[0]}")
        if parse(a[1]) != parse(b[1]):
            problems.append(f"stdout differs:\n--- mdevctl\n{a[1]}--- vbus\n{b[1]}")
        sa, sb = sysfs(ref), sysfs(ours)
        if sa != sb:
            diff = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
            problems.append("sysfs differs: " + ", ".join(
                f"{k}: mdevctl {sa.get(k)!r} vbus {sb.get(k)!r}" for k in diff))
        desc = "mdevctl " + " ".join(args)
        if problems:
            failed += 1
            print(f"not ok {n} - {desc}")
            for p in problems + [f"stderr: mdevctl {a[2]!r}, vbus {b[2]!r}"]:
                for line in p.splitlines():
                    print("# " + line)
        else:
            print(f"ok {n} - {desc}" + (f" (exit {a[0]})" if a[0] else ""))

    # The callout was asked the same things in the same order by both: get attributes, then
    # the define steps. Repeats are collapsed: mdevctl also runs "get" for a plain "list",
    # which shows no attributes; vbus runs it only for --dumpjson and -v.
    n += 1
    logs = []
    for t in (ref, ours):
        try:
            with open(os.path.join(t, "etc/mdevctl.d/callout.log")) as fh:
                logs.append(fh.read())
        except FileNotFoundError:
            logs.append("")
    seqs = [[l for i, l in enumerate(lines) if i == 0 or lines[i - 1] != l]
            for lines in (log.splitlines() for log in logs)]
    if seqs[0] == seqs[1] and any("-e get -a attributes" in l for l in seqs[0]):
        print(f"ok {n} - the callout was asked alike: " + ", ".join(
            l.split(" -s ")[0].split(" -e ")[1] for l in seqs[0]))
    else:
        failed += 1
        print(f"not ok {n} - get-attributes calls differ")
        for l in ("--- mdevctl", *logs[0].splitlines(), "--- vbus", *logs[1].splitlines()):
            print("# " + l)

    # What only vbus can show: the definitions made through "mdevctl" are vbus's, named by
    # UUID, and listed by vbusctl; a vbus mdev definition is listed by "mdevctl list -d".
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent")
    n += 1
    p = subprocess.run([VBUSCTL, "--root", ours, "-j", "list", "--defined"],
                       capture_output=True, text=True, env=env)
    names = sorted(d["name"] for d in json.loads(p.stdout)) if p.returncode == 0 else None
    if names == [U1, ACTIVE]:
        print(f"ok {n} - vbusctl list --defined shows the mdevctl definitions by UUID")
    else:
        failed += 1
        print(f"not ok {n} - vbusctl list --defined: {names} {p.stderr!r}")
    n += 1
    p = subprocess.run([VBUSCTL, "--root", ours, "define", "vm1-serial", "--kind", "mdev",
                        "--parent", "mtty", "--type", "mtty-1", "--uuid", U4],
                       capture_output=True, text=True, env=env)
    rc, out, err = run(ours, alias, ["list", "-d"], None)
    if p.returncode == 0 and rc == 0 and f"{U4} mtty mtty-1 auto\n" in out:
        print(f"ok {n} - a vbus definition (vm1-serial) is listed by mdevctl list -d")
    else:
        failed += 1
        print(f"not ok {n} - vbus definition not in mdevctl list -d: {p.stderr!r} {out!r}")
    n += 1
    f = os.path.join(ours, "etc/vbus/devices.d", U1 + ".json")
    with open(f) as fh:
        d = json.load(fh)
    if d.get("kind") == "mdev" and d.get("uuid") == U1 and d.get("parent") == "mtty":
        print(f"ok {n} - mdevctl define wrote /etc/vbus/devices.d/{U1}.json")
    else:
        failed += 1
        print(f"not ok {n} - {f}: {d}")
    if failed == 0:
        shutil.rmtree(tmp)
    else:
        print(f"# trees kept in {tmp}")
    sys.exit(1 if failed else 0)


main()
