#!/bin/bash
# kmod/ is checkpatch --strict clean (scripts/checkpatch.pl of linux-source-6.1, the kernel we
# build for) and sparse clean (make C=2 against the installed headers).
#   check-lint.sh KMOD_SRCDIR [KVER]   (TAP output)
set -u

kmod=$(cd "$1" && pwd)
kver=${2:-}
tarball=/usr/src/linux-source-6.1.tar.xz
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

n=0
failed=0
ok() { # ok STATUS DESCRIPTION [DIAG]
	n=$((n + 1))
	if [[ $1 -eq 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[[ -n ${3-} ]] && printf '%s\n' "$3" | head -n 40 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}

# checkpatch.pl reads spelling.txt and const_structs.checkpatch from its own directory.
out=$(tar -xJf "$tarball" -C "$T" --strip-components=1 linux-source-6.1/scripts/checkpatch.pl \
	linux-source-6.1/scripts/spelling.txt linux-source-6.1/scripts/const_structs.checkpatch 2>&1)
ok $? "checkpatch.pl, spelling.txt, const_structs.checkpatch from $tarball" "$out"

# Paths relative to the repository root, as a patch would name them ("kmod/vbus.h").
files=$(cd "$kmod/.." && ls kmod/*.c kmod/*.h kmod/uapi/linux/*.h)
out=$(cd "$kmod/.." && perl "$T/scripts/checkpatch.pl" --strict --no-tree --terse \
	--max-line-length=100 --show-types -f $files 2>&1)
bad=$(grep -v '^total: 0 errors, 0 warnings, 0 checks' <<<"$out")
[[ -z $bad ]]
ok $? "checkpatch --strict: no error, warning or check in $(wc -w <<<"$files") files" "$bad"

# A check that cannot fail proves nothing: a trailing space must be found.
printf '// SPDX-License-Identifier: GPL-2.0\nstatic int x; \n' >"$T/bad.c"
out=$(perl "$T/scripts/checkpatch.pl" --strict --no-tree --terse -f "$T/bad.c" 2>&1)
[[ $out == *"trailing whitespace"* ]]
ok $? "checkpatch finds a planted trailing space" "$out"

command -v sparse >/dev/null
ok $? "sparse is installed (tools/install-deps.sh)"
mkdir -p "$T/kmod"
(cd "$kmod" && cp -r Kbuild Makefile ./*.c ./*.h uapi "$T/kmod/")
# vbus_sim_vdpa.c too (CONFIG_VBUS_SIM_VDPA): vdpa.ko's symbols are unknown here, so modpost
# only warns about them (its own "WARNING: modpost:" lines are not sparse's).
out=$(make -C "$T/kmod" ${kver:+KVER=$kver} C=2 CONFIG_VBUS_SIM_VDPA=m KBUILD_MODPOST_WARN=1 2>&1)
st=$?
ok $st "make C=2 builds kmod/" "$out"
checked=$(grep -c '^  CHECK ' <<<"$out")
[[ $checked -ge 6 ]] && grep -q '^  CHECK .*/vbus_sim_vdpa\.c$' <<<"$out"
ok $? "sparse checked every source file ($checked)" "$out"
bad=$(grep -E 'warning:|error:' <<<"$out" | grep -v 'BTF' | grep -v '^WARNING: modpost: ')
[[ -z $bad ]]
ok $? "sparse: no warning" "$bad"

echo "1..$n"
[[ $failed -eq 0 ]]
