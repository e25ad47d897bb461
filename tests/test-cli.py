#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vbusctl golden tests: run a case's commands against a scratch copy of a fake root and
compare the transcript (stdout, stderr, exit status, files) with the checked-in one.

Usage: test-cli.py VBUSCTL CASE_DIR        (VBUS_UPDATE_GOLDEN=1 rewrites CASE_DIR/expected)

A case directory holds:
  tree      the fake root to copy: a directory name under tests/data (e.g. host-mixed), or
            "empty"; the case's own root/ directory, when present, is copied over it
  commands  one command per line: vbusctl arguments (shell words, --root is added), or
              @cat PATH     print a file under the root
              @ls PATH      list a directory under the root (sorted)
              @rm PATH      remove a file or directory under the root
              @mkfile PATH  create an empty regular file (e.g. where a directory should be)
              @write PATH TEXT  write TEXT (a shell word) to a file under the root
  expected  the transcript
"""
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


def under(root, path):
    return os.path.join(root, path.lstrip("/"))


class InProcess:
    """vbusctl runs in-process on the scratch root (--root is added to every command)."""

    def start(self, root, env):
        pass

    def argv(self, vbusctl, root, words):
        return [vbusctl, "--root", root] + words

    def stop(self):
        pass


def run_case(vbusctl, case, data_dir, session=None):
    """The transcript of CASE as a list of lines. SESSION says how vbusctl reaches the tree
    (InProcess by default; tests/integration/transcripts.py runs it through vbusd)."""
    session = session or InProcess()
    out = []
    with open(os.path.join(case, "tree")) as f:
        tree = f.read().strip()
    tmp = tempfile.mkdtemp(prefix="vbus-cli-")
    root = os.path.join(tmp, "root")
    try:
        if tree == "empty":
            os.mkdir(root)
        else:
            shutil.copytree(os.path.join(data_dir, tree), root, symlinks=True)
            # The empty directories mktree.sh makes, which a git checkout does not have.
            for d in ("etc/vbus/devices.d", "etc/vbus/policy.d", "run"):
                os.makedirs(os.path.join(root, d), exist_ok=True)
        own = os.path.join(case, "root")
        if os.path.isdir(own):
            shutil.copytree(own, root, symlinks=True, dirs_exist_ok=True)
        env = dict(os.environ)
        env.pop("VBUS_LOG", None)
        env["LC_ALL"] = "C"
        session.start(root, env)
        with open(os.path.join(case, "commands")) as f:
            lines = [l.rstrip("\n") for l in f]
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            words = shlex.split(line)
            if words[0] == "@cat":
                out.append(f"$ cat {words[1]}")
                with open(under(root, words[1])) as f:
                    out.extend(f.read().splitlines())
                continue
            if words[0] == "@ls":
                out.append(f"$ ls {words[1]}")
                p = under(root, words[1])
                out.extend(sorted(os.listdir(p)) if os.path.isdir(p) else ["(absent)"])
                continue
            if words[0] == "@rm":
                p = under(root, words[1])
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                elif os.path.lexists(p):
                    os.unlink(p)
                continue
            if words[0] == "@mkfile":
                p = under(root, words[1])
                os.makedirs(os.path.dirname(p), exist_ok=True)
                open(p, "w").close()
                continue
            if words[0] == "@write":
                p = under(root, words[1])
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(words[2])
                continue
            args = session.argv(vbusctl, root, [w.replace("$ROOT", root) for w in words])
            p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
            out.append("$ vbusctl " + line)
            out.extend(p.stdout.replace(root, "$ROOT").splitlines())
            out.extend("! " + l for l in p.stderr.replace(root, "$ROOT").splitlines())
            if p.returncode:
                out.append(f"[exit {p.returncode}]")
    finally:
        session.stop()
        shutil.rmtree(tmp)
    # import's backup directories are named by the time of the import
    return [re.sub(r"\b\d{8}T\d{6}\b", "YYYYmmddTHHMMSS", line) for line in out]


def main():
    vbusctl, case = sys.argv[1], sys.argv[2]
    data_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    got = run_case(vbusctl, case, data_dir)
    exp_path = os.path.join(case, "expected")
    if os.environ.get("VBUS_UPDATE_GOLDEN"):
        with open(exp_path, "w") as f:
            f.write("\n".join(got) + "\n")
        print(f"# wrote {exp_path}")
    try:
        with open(exp_path) as f:
            exp = f.read().splitlines()
    except FileNotFoundError:
        exp = []
    print("1..1")
    if got == exp:
        print(f"ok 1 - {os.path.basename(case)}")
        return 0
    for l in difflib.unified_diff(exp, got, "expected", "got", lineterm=""):
        print("# " + l)
    print(f"not ok 1 - {os.path.basename(case)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
