#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/install-deps.sh installs every program the tests call (TAP output).

Usage: test-deps.py SRCDIR

A fresh Debian 12 root has only the packages of priority "required" (what debootstrap's minbase
installs); everything else a test runs must come from tools/install-deps.sh, or CI fails where
the developers' machines, which have more, pass (dkms signing with openssl was such a case).

The check: the programs the test scripts and meson files start (command words of shell
scripts, heredocs skipped; subprocess calls of Python files; find_program() in meson files),
plus absolute /usr paths they name, are resolved on this machine in /usr/sbin:/usr/bin:/sbin:/bin
and mapped to their Debian package with dpkg -S. Each package must be named in install-deps.sh,
pulled in by one that is (Depends/Pre-Depends, as apt installs them without recommends), or be
of priority required. NEEDS lists what a program needs without its package depending on it.
A program not found here is not judged (its test fails here anyway); one not owned by a package
(built by us, installed by hand) neither.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# What a program needs at run time that its Debian package does not depend on: these packages
# must be named in install-deps.sh.
NEEDS = {
    "dkms": ["openssl"],  # signs the modules it builds (mok.key); dkms only Recommends it
    "man": ["groff-base"],  # man-db formats with groff (a Depends today; kept explicit)
}

# Words in command position that are not programs: shell keywords and builtins come from bash
# itself; these are the functions and helpers of the test harnesses that look like programs.
SYS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

n = 0
failed = 0


def ok(cond, what, diag=()):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {what}")
    else:
        failed += 1
        print(f"not ok {n} - {what}")
        for d in diag:
            print(f"# {d}")


def bash_words():
    out = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


def is_shell(path):
    if path.endswith(".sh"):
        return True
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and (b"sh" in first.split(b"/")[-1].split()[0] or
                                        b"bash" in first)


def is_python(path):
    if path.endswith(".py"):
        return True
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


# tools/ scripts that install what they need themselves (on the host, not for the tests).
SELF_INSTALLING = {"tools/check-fresh-root.sh"}


def test_files(src):
    """Test scripts, test tools and meson files: tests/, tools/, .ci/, and every meson.build."""
    out = []
    for top in ("tests", "tools", ".ci"):
        for d, dirs, files in os.walk(os.path.join(src, top)):
            dirs[:] = [x for x in dirs if x not in ("corpus", "data")]
            for f in files:
                if os.path.relpath(os.path.join(d, f), src) not in SELF_INSTALLING:
                    out.append(os.path.join(d, f))
    for d, dirs, files in os.walk(src):
        dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
        if "meson.build" in files:
            out.append(os.path.join(d, "meson.build"))
    return sorted(set(out))


NAME_RE = re.compile(r"^[a-z][a-z0-9_.+-]*$")
HEREDOC_RE = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
# Commands that run the next word as another command, with how many option words to skip.
WRAPPERS = {"exec", "command", "env", "nice", "nohup", "timeout", "sudo", "xargs", "stdbuf",
            "setsid", "ionice", "taskset", "chroot", "unshare", "nsenter", "flock", "setpriv"}
OPT_WITH_VALUE = {"timeout": {"-s", "-k", "--signal", "--kill-after"},
                  "xargs": {"-I", "-n", "-P", "-d", "-a", "-E", "-L", "-s"},
                  "nice": {"-n"}, "ionice": {"-c", "-n"},
                  "setpriv": {"--reuid", "--regid", "--groups", "--inh-caps", "--ambient-caps",
                              "--bounding-set", "--securebits", "--pdeathsig", "--ruid", "--rgid",
                              "--euid", "--egid"}}


def strip_comment(line):
    # A '#' that starts a word starts a comment (not $#, ${#x} or a#b).
    m = re.search(r"(^|[\s;|&(])#", line)
    return line[:m.start() + len(m.group(1))] if m else line


def shell_commands(text, functions):
    """The command words of a shell script (functions it defines are collected apart)."""
    cmds = set()
    lines = text.split("\n")
    i = 0
    logical = []
    while i < len(lines):
        line = lines[i]
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i]
            i += 1
        logical.append(line)
        m = HEREDOC_RE.search(strip_comment(line))
        if m:
            end = m.group(2)
            while i < len(lines) and lines[i].strip() != end:
                i += 1
            i += 1
    for line in logical:
        line = strip_comment(line)
        for m in re.finditer(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\s*\)", line):
            functions.add(m.group(1))
        for m in re.finditer(r"^\s*function\s+([A-Za-z_][A-Za-z0-9_-]*)", line):
            functions.add(m.group(1))
        # Quoted text is not code (but "$(...)" inside double quotes is).
        line = re.sub(r"'[^']*'", " '' ", line)
        for seg in re.split(r"\|\||&&|[|;&`(){}]|\$\(|\bthen\b|\bdo\b|\belse\b|\bif\b|"
                            r"\bwhile\b|\buntil\b|!", line):
            words = seg.split()
            j = 0
            while j < len(words):
                w = words[j]
                if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", w) or \
                        re.match(r"^\d*[<>]", w):
                    j += 1
                    continue
                w = w.strip('"')
                if w.startswith("/") and "$" not in w:
                    w = os.path.basename(w)
                if not NAME_RE.match(w):
                    break
                cmds.add(w)
                if w not in WRAPPERS:
                    break
                # The wrapped command: skip options (and their values), VAR=x, the duration
                # of timeout, the directory of chroot.
                j += 1
                while j < len(words):
                    a = words[j]
                    if a in OPT_WITH_VALUE.get(w, ()):
                        j += 2
                    elif a.startswith("-") or "=" in a:
                        j += 1
                    elif w == "timeout" and re.match(r"^[\d.]+[smhd]?$", a):
                        j += 1
                        break
                    elif w in ("chroot", "flock"):
                        j += 1
                        break
                    else:
                        break
    return cmds


def python_commands(text):
    cmds = set()
    for m in re.finditer(r"(?:run|call|check_call|check_output|Popen|which|execvp|execlp)\(\s*"
                         r"\[?\s*[\"']([^\"'\s]+)[\"']", text):
        cmds.add(os.path.basename(m.group(1)))
    return cmds


def meson_commands(text):
    return {os.path.basename(m.group(1))
            for m in re.finditer(r"find_program\(\s*'([^']+)'", text)}


PATH_RE = re.compile(r"(/usr/(?:bin|sbin|share|src|lib|libexec)/[A-Za-z0-9_./+-]+)")


def usr_paths(text):
    return {m.group(1).rstrip(".") for m in PATH_RE.finditer(text)}


def dpkg_status():
    """Installed packages: name -> (priority, essential, [depends groups], [provides])."""
    pkgs = {}
    with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as f:
        for block in f.read().split("\n\n"):
            fields = {}
            key = None
            for line in block.split("\n"):
                if line.startswith((" ", "\t")) and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, _, v = line.partition(":")
                    fields[key] = v.strip()
            name = fields.get("Package")
            if not name or "installed" not in fields.get("Status", "").split()[-1:]:
                continue
            deps = []
            for k in ("Pre-Depends", "Depends"):
                for group in filter(None, (g.strip() for g in fields.get(k, "").split(","))):
                    deps.append([re.split(r"[\s(:]", a.strip())[0] for a in group.split("|")])
            provides = [re.split(r"[\s(]", p.strip())[0]
                        for p in fields.get("Provides", "").split(",") if p.strip()]
            pkgs[name] = (fields.get("Priority", ""), fields.get("Essential") == "yes", deps,
                          provides)
    return pkgs


def closure(named, status):
    providers = {}
    for p, (_, _, _, prov) in status.items():
        for v in prov:
            providers.setdefault(v, []).append(p)
    seen = set()
    todo = list(named)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if p not in status:
            continue
        for group in status[p][2]:
            # Of "a | b", what is installed here (apt picks the first installable one).
            cands = [a for a in group if a in status] or \
                [q for a in group for q in providers.get(a, [])]
            todo.extend(cands[:1])
    return seen


def install_deps_packages(path):
    text = open(path).read()
    m = re.search(r'pkgs="([^"]*)"', text)
    return set(m.group(1).split()) if m else set()


_owners = None


def package_of(path):
    """The package owning PATH (or the same path across the /usr merge), or None: what dpkg -S
    says, read once from dpkg's file lists (one dpkg -S per path costs seconds here)."""
    global _owners
    if _owners is None:
        _owners = {}
        info = "/var/lib/dpkg/info"
        for f in os.listdir(info):
            if not f.endswith(".list"):
                continue
            pkg = f[:-5].split(":")[0]
            with open(os.path.join(info, f), encoding="utf-8", errors="replace") as fl:
                for line in fl:
                    if line.startswith(("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/",
                                        "/usr/share/", "/usr/src/", "/usr/lib/",
                                        "/usr/libexec/", "/lib/")):
                        _owners.setdefault(line.rstrip("\n"), pkg)
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/"):
            cands.append(c[4:])
        else:
            cands.append("/usr" + c)
    for c in cands:
        if c in _owners:
            return _owners[c]
    return None


def check(src, label):
    """Runs the check on SRC; returns the list of problems (each a line)."""
    builtins = bash_words()
    functions = set()
    programs = {}  # program -> first file using it
    paths = {}
    files = test_files(src)
    shells = [f for f in files if is_shell(f)]
    for f in files:
        try:
            text = open(f, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        rel = os.path.relpath(f, src)
        if f in shells:
            cmds = shell_commands(text, functions)
        elif is_python(f):
            cmds = python_commands(text)
        elif os.path.basename(f) == "meson.build":
            cmds = meson_commands(text)
        else:
            continue
        for c in cmds:
            programs.setdefault(c, rel)
        for p in usr_paths(text):
            paths.setdefault(p, rel)
    named = install_deps_packages(os.path.join(src, "tools/install-deps.sh"))
    status = dpkg_status()
    have = closure(named, status)
    required = {p for p, (prio, ess, _, _) in status.items() if prio == "required" or ess}
    problems = []
    judged = []
    for prog in sorted(programs):
        if prog in builtins or prog in functions:
            continue
        exe = shutil.which(prog, path=SYS_PATH)
        if not exe:
            continue
        pkg = package_of(exe)
        if not pkg:
            continue
        judged.append(f"{prog}={pkg}")
        if pkg not in have and pkg not in required:
            problems.append(f"{prog} ({programs[prog]}) is in package {pkg}, which "
                            f"tools/install-deps.sh does not install")
        for need in NEEDS.get(prog, []):
            if need not in named:
                problems.append(f"{prog} ({programs[prog]}) needs {need}, which "
                                f"tools/install-deps.sh does not name")
    for p in sorted(paths):
        if not os.path.exists(p) or os.path.isdir(p):
            continue
        pkg = package_of(p)
        if not pkg:
            continue
        judged.append(f"{p}={pkg}")
        if pkg not in have and pkg not in required:
            problems.append(f"{p} ({paths[p]}) is in package {pkg}, which "
                            f"tools/install-deps.sh does not install")
    print(f"# {label}: {len(judged)} programs and files judged, {len(named)} packages named, "
          f"{len(have)} with their dependencies")
    for i in range(0, len(judged), 6):
        print("#   " + " ".join(judged[i:i + 6]))
    return problems


def main():
    src = os.path.abspath(sys.argv[1])
    os.environ["LC_ALL"] = "C"

    problems = check(src, "the tree")
    ok(not problems, "every program and file the tests use comes from tools/install-deps.sh "
       "or priority required", problems)

    # The check itself must catch what it is for: a test that starts calling a program of a
    # package nobody installs (openssl, as dkms's signing once did), and a NEEDS entry missing.
    with tempfile.TemporaryDirectory() as t:
        os.makedirs(os.path.join(t, "tests"))
        os.makedirs(os.path.join(t, "tools"))
        with open(os.path.join(t, "tools/install-deps.sh"), "w") as f:
            f.write('#!/bin/sh\npkgs="\n\tbash dkms\n"\napt-get install $pkgs\n')
        with open(os.path.join(t, "tests/t.sh"), "w") as f:
            f.write("#!/bin/bash\n# openssl in a comment is not a call\nmy_fn() { :; }\n"
                    "my_fn\nif true; then\n\tout=$(openssl req -new -x509 2>&1) || exit 1\n"
                    "fi\ncat <<'EOF'\nnot_a_program arg\nEOF\n"
                    "timeout 10 dkms status | grep -q x\n")
        p = check(t, "a tree whose test calls openssl and dkms, with only dkms installed")
        found = " ".join(p)
        if shutil.which("openssl", path=SYS_PATH):
            ok("openssl (tests/t.sh) is in package openssl" in found,
               "a test calling openssl without openssl in install-deps.sh fails the check", p)
        ok("dkms (tests/t.sh) needs openssl" in found,
           "dkms without openssl named in install-deps.sh fails the check", p)
        ok(not any(w in found for w in ("my_fn", "not_a_program", "grep", "timeout", "true")),
           "functions, heredocs, builtins and required packages are not reported", p)

    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
