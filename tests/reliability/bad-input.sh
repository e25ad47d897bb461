#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input to vbusctl on a scratch copy of a fake host: names with paths and control
# characters, huge files, symlinked config directories, a read-only /etc/vbus, a full disk (a
# 16 kB tmpfs), a parent vanishing while devices are created and removed. Each must fail with
# exit 1 (2 for usage), one line naming the object and the cause, and nothing half-written.
# Mounts need root; they are undone on exit. TAP.
# Usage: bad-input.sh VBUSCTL SRCDIR [VBUSCTL_FAKE_KERNEL]
set -u

V=$(realpath "$1")
SRC=$(realpath "$2")
VFK=${3:+$(realpath "$3")}
T=$(mktemp -d /tmp/vbus-bad-input.XXXXXX)
R=$T/root
D=$R/etc/vbus/devices.d
MOUNTS=()
BG=
n=0
failed=0

cleanup() {
	[ -n "$BG" ] && kill "$BG" 2>/dev/null && wait "$BG" 2>/dev/null
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null
	done
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
	for l in "$@"; do echo "# ${l//$'\n'/$'\n'# }"; done
}
# snapshot: names, sizes and contents of everything under etc/vbus and run (hidden files too).
snapshot() {
	(cd "$R" && find -L etc/vbus run -xdev 2>/dev/null | sort | while read -r f; do
		if [ -f "$f" ]; then echo "$f $(md5sum <"$f")"; else echo "$f"; fi
	done) | md5sum
}
# expect DESCRIPTION RC WANT-IN-MESSAGE... -- vbusctl ARGS: exit RC, one stderr line starting
# "vbusctl: " that contains every WANT, no control character, and the tree unchanged.
expect() {
	local what=$1 want_rc=$2 out rc before after w bad=
	shift 2
	local wants=()
	while [ "$1" != "--" ]; do wants+=("$1"); shift; done
	shift
	before=$(snapshot)
	out=$("$V" --root "$R" "$@" 2>&1 >/dev/null)
	rc=$?
	after=$(snapshot)
	[ "$rc" = "$want_rc" ] || bad+="exit $rc, want $want_rc; "
	[[ $out == vbusctl:\ * ]] || bad+="no 'vbusctl: ' message; "
	[ "$(printf '%s' "$out" | wc -l)" -le 0 ] || bad+="more than one line; "
	if LC_ALL=C grep -q '[[:cntrl:]]' <<<"${out//$'\n'/}"; then bad+="control characters; "; fi
	for w in "${wants[@]}"; do [[ $out == *"$w"* ]] || bad+="no '$w'; "; done
	[ "$before" = "$after" ] || bad+="the tree changed; "
	if [ -z "$bad" ]; then ok "$what"; else not_ok "$what" "$bad" "$(printf '%q' "$out")"; fi
}
fresh() {
	rm -rf "$R"
	cp -a "$SRC/tests/data/host-mixed" "$R"
	rm -f "$D/broken.json"
}

fresh
# ---- names ---------------------------------------------------------------------------------
for name in '../evil' 'a/b' '/etc/passwd' '.hidden' $'a\nb' $'\e[31mred' $'tab\there' \
	"$(printf 'x%.0s' {1..65})" '' 'a b' 'ü'; do
	expect "define $(printf '%q' "$name"): refused, named, nothing written" 1 \
		"Failed to define" "invalid name" -- define "$name" --kind pci --parent 0000:05:00.0
done
expect "define --kind with a path: usage error naming the value" 2 "Unknown kind '../mdev'" -- \
	define ok1 --kind ../mdev --parent mtty
expect "define --parent with a path: refused or not present, nothing outside the tree" 1 "ok2" -- \
	define ok2 --kind mdev --parent ../../../../etc --type x
expect "define --type with a path: refused" 1 "ok3" -- \
	define ok3 --kind mdev --parent mtty --type ../../../../../tmp/x
expect "define --driver with a control character: usage error, shown escaped" 2 "'vfio\\x0a'" -- \
	define ok4 --kind pci --parent 0000:05:00.0 --driver $'vfio\n'
expect "undefine a name with a path: refused" 1 "invalid name" -- undefine ../devices.d/gpu-desktop
expect "start a name with a path: refused" 1 "../x" -- start ../x
expect "an unknown option is usage: exit 2" 2 "Unknown option" -- define x --bogus
expect "a missing argument is usage: exit 2" 2 "" -- define

# ---- huge files --------------------------------------------------------------------------------
truncate -s 300M "$D/huge.json"
out=$("$V" --root "$R" list --defined 2>&1)
rc=$?
if [ $rc = 0 ] && [[ $out == *"huge.json"*"too large"* ]] && [[ $out == *gpu-desktop* ]]; then
	ok "a 300 MB devices.d file is named as too large, the others still list"
else
	not_ok "a 300 MB devices.d file is named as too large, the others still list" "rc=$rc" "$out"
fi
rm -f "$D/huge.json"
python3 -c 'import json, sys
json.dump({"version": 1, "name": "big", "kind": "pci", "parent": "0000:05:00.0",
           "tags": ["t%d" % i for i in range(200000)]}, open(sys.argv[1], "w"))' "$T/big.json"
expect "define --jsonfile with a 2 MB tag list: refused with the cause, nothing written" 1 \
	"big" -- define --jsonfile "$T/big.json"
head -c 64M /dev/zero >"$T/zeros.json"
expect "define --jsonfile of 64 MB of NULs: refused, names the file" 1 "zeros.json" -- \
	define --jsonfile "$T/zeros.json"
expect "apply of 64 MB of NULs: refused, names the file" 1 "zeros.json" -- apply "$T/zeros.json"
printf '%*s' 100000 '' | tr ' ' '[' >"$T/deep.json"
expect "define --jsonfile nested 100000 deep: refused, no crash" 1 "deep.json" -- \
	define --jsonfile "$T/deep.json"

# ---- symlinked config directories ------------------------------------------------------------
fresh
mkdir -p "$T/elsewhere"
mv "$D"/* "$T/elsewhere/"
rmdir "$D"
ln -s "$T/elsewhere" "$D"
out=$("$V" --root "$R" define s1 --kind pci --parent 0000:05:00.0 --manual 2>&1)
if [ $? = 0 ] && [ -L "$D" ] && [ -f "$T/elsewhere/s1.json" ]; then
	ok "devices.d as a symlink: define writes into its target, the link stays"
else
	not_ok "devices.d as a symlink: define writes into its target, the link stays" "$out"
fi
ln -s /etc/shadow "$T/elsewhere/evil.json"
out=$("$V" --root "$R" define evil --kind pci --parent 0000:05:00.0 --manual 2>&1)
shadow_before=$(md5sum </etc/shadow)
"$V" --root "$R" undefine evil >/dev/null 2>&1
if [ "$(md5sum </etc/shadow)" = "$shadow_before" ]; then
	ok "a definition file that is a symlink out of the tree: its target is never written"
else
	not_ok "a definition file that is a symlink out of the tree: its target is never written"
fi
rm -f "$T/elsewhere/evil.json"
rm "$D"
ln -s "$T/nowhere" "$D"
expect "devices.d a dangling symlink: define fails naming the directory" 1 "s2" "devices.d" -- \
	define s2 --kind pci --parent 0000:05:00.0 --manual
expect "devices.d a dangling symlink: list fails naming the directory (not an empty list)" 1 \
	"devices.d" "No such file or directory" -- list --defined
rm "$D"
ln -s devices.d "$D"
expect "devices.d a symlink loop: define fails with the cause" 1 "s3" \
	"Too many levels of symbolic links" -- define s3 --kind pci --parent 0000:05:00.0 --manual

# ---- read-only /etc/vbus ---------------------------------------------------------------------
fresh
if mount --bind "$R/etc/vbus" "$R/etc/vbus" && MOUNTS=("$R/etc/vbus" "${MOUNTS[@]}") &&
	mount -o remount,bind,ro "$R/etc/vbus"; then
	expect "read-only etc: define fails with the file and the cause" 1 "'r1'" "r1.json" \
		"Read-only file system" -- define r1 --kind pci --parent 0000:05:00.0 --manual
	expect "read-only etc: modify fails, the old file intact" 1 "'nic-vf1'" \
		"Read-only file system" -- modify nic-vf1 --driver host
	expect "read-only etc: undefine fails" 1 "'nic-vf1'" "Read-only file system" -- \
		undefine nic-vf1
	expect "read-only etc: import fails naming what it could not write" 1 "Read-only" -- \
		import mdevctl
	umount "$R/etc/vbus"
else
	not_ok "read-only bind mount of etc/vbus (needs root)"
fi

# ---- full disk ---------------------------------------------------------------------------------
fresh
cp -a "$D" "$T/devices.saved"
if mount -t tmpfs -o size=16k,mode=755 vbus-full "$D" && MOUNTS=("$D" "${MOUNTS[@]}"); then
	cp -a "$T/devices.saved/." "$D/"
	head -c 1M /dev/zero >"$D/.filler" 2>/dev/null
	expect "full disk: define fails with the file and ENOSPC, no temporary file left" 1 "'f1'" \
		"No space left on device" -- define f1 --kind pci --parent 0000:05:00.0 --manual
	expect "full disk: modify fails, the old definition intact" 1 "'nic-vf1'" \
		"No space left on device" -- modify nic-vf1 --driver host --tag "$(printf 'a%.0s' {1..60})"
	rm -f "$D/.filler"
	out=$("$V" --root "$R" modify nic-vf1 --driver host 2>&1)
	if [ $? = 0 ] && grep -q '"host"' "$D/nic-vf1.json"; then
		ok "full disk freed: the same modify now works"
	else
		not_ok "full disk freed: the same modify now works" "$out"
	fi
	umount "$D"
else
	not_ok "tmpfs for the full disk (needs root)"
fi

# ---- a parent vanishing while devices come and go --------------------------------------------
if [ -n "$VFK" ]; then
	fresh
	PARENT=$R/sys/devices/virtual/mtty/mtty
	(while :; do
		mv "$PARENT" "$PARENT.away" 2>/dev/null
		sleep 0.0$((RANDOM % 3))
		mv "$PARENT.away" "$PARENT" 2>/dev/null
		sleep 0.0$((RANDOM % 3))
	done) &
	BG=$!
	bad=
	created=0
	refused=0
	for i in $(seq 40); do
		out=$("$VFK" --root "$R" create "v$i" --kind mdev --parent mtty --type mtty-2 \
			--manual 2>&1 >/dev/null)
		rc=$?
		if [ $rc = 0 ]; then
			created=$((created + 1))
			out=$("$VFK" --root "$R" remove "v$i" 2>&1 >/dev/null)
			rc=$?
			[ $rc -le 1 ] || bad+="remove v$i: exit $rc: $out; "
			[ $rc = 0 ] || [[ $out == *"'v$i'"* ]] || bad+="remove v$i: $out; "
		else
			refused=$((refused + 1))
			[ $rc = 1 ] || bad+="create v$i: exit $rc: $out; "
			[[ $out == "vbusctl: Failed to create 'v$i': "* ]] || bad+="create v$i: $out; "
			[ ! -e "$D/v$i.json" ] || bad+="v$i.json stored after a failed create; "
			[ ! -e "$R/run/vbus/v$i.json" ] || bad+="run record of a failed create v$i; "
		fi
	done
	kill "$BG"
	wait "$BG" 2>/dev/null
	BG=
	[ -e "$PARENT" ] || mv "$PARENT.away" "$PARENT"
	if [ -z "$bad" ] && [ $((created + refused)) = 40 ]; then
		ok "parent vanishing: 40 creates ($created done, $refused refused with the name), no crash, no half state"
	else
		not_ok "parent vanishing mid-operation" "$bad"
	fi
	left=$(cd "$D" && ls v*.json 2>/dev/null | paste -sd ' ')
	out=$("$VFK" --root "$R" -j list --all 2>&1)
	if python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out" 2>/dev/null; then
		ok "parent vanishing: the listing afterwards is whole (definitions left: ${left:-none})"
	else
		not_ok "parent vanishing: the listing afterwards is whole" "$out"
	fi
fi

echo "1..$n"
exit $((failed > 0))
