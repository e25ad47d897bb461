#!/bin/bash
# Proves the README's two commands on a fresh Debian 12: debootstraps a minbase bookworm root
# from the apt mirror this machine uses, copies a clean clone of this repository (its HEAD
# commit) into it and runs, as root inside the chroot, `tools/install-deps.sh` and then
# `tools/test.sh`. Run it before each release. Needs root; about 2 GB of disk.
#
# Usage: tools/check-fresh-root.sh [--dir DIR] [--keep] [--mirror URL] [--no-test] [--demo]
#                                  [-- MESON-TEST-ARGS...]
#   --dir DIR   where the root goes (default: a new /var/tmp/vbus-fresh-root.XXXXXX); a DIR
#               that already holds a finished debootstrap is reused (its clone is replaced;
#               packages installed by an earlier run stay: for iterating, not for the proof)
#   --keep      keep the root at the end (default: removed when the script made it; a DIR
#               given with --dir always stays)
#   --mirror U  the Debian mirror (default: the first bookworm URI in /etc/apt/sources.list*)
#   --no-test   stop after install-deps.sh and the build (meson compile)
#   --demo      also run the first command's tools/demo.sh (after the tests)
#   -- ARGS     passed to tools/test.sh after the build dir, e.g. `-- --suite unit --suite install`
# Every step prints its time; the last line says which steps passed. Mounts are undone on
# any exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
dir=
keep=0
mirror=
run_test=1
run_demo=0
test_args=()

while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--mirror) mirror=$2; shift 2 ;;
	--no-test) run_test=0; shift ;;
	--demo) run_demo=1; shift ;;
	--) shift; test_args=("$@"); break ;;
	-h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "check-fresh-root: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "check-fresh-root: must run as root (debootstrap, chroot, mount)" >&2
	exit 1
fi

log() { printf '== %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
passed=()
step_start=0
step() { step_start=$(date +%s); log "$1"; }
step_ok() {
	local t=$(($(date +%s) - step_start))
	passed+=("$1 (${t}s)")
	log "$1: ok in ${t}s"
}

# The first URI serving bookworm (not -security) and the first serving bookworm-security, from
# one-line (.list) and deb822 (.sources) files alike.
apt_uri() {
	local want=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v want="$want" '
			function pick(uri, suites,   n, i, s) {
				n = split(suites, s, /[ \t]+/)
				for (i = 1; i <= n; i++)
					if (s[i] == want) { print uri; exit }
			}
			/^[ \t]*#/ { next }
			/^deb[ \t]/ {
				u = ""; rest = ""
				for (i = 2; i <= NF; i++) {
					if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
					if (u == "") { u = $i; continue }
					rest = rest " " $i
				}
				if (u != "") { split(rest, r, " "); pick(u, r[1]) }
				next
			}
			/^Types:/ { types = $0 }
			/^URIs:/ { uris = $2 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^[ \t]*$/ { if (types ~ /deb( |$)/ && uris != "") pick(uris, suites); types = uris = suites = "" }
			END { if (types ~ /deb( |$)/ && uris != "") pick(uris, suites) }
		' "$f"
	done | head -n1
}

[ -n "$mirror" ] || mirror=$(apt_uri bookworm)
security=$(apt_uri bookworm-security)
if [ -z "$mirror" ]; then
	echo "check-fresh-root: no bookworm mirror in /etc/apt/sources.list*; give --mirror URL" >&2
	exit 1
fi

rev=$(git -C "$src" rev-parse HEAD)
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
	log "note: $src has uncommitted changes; the check uses the commit $rev only"
fi

made_dir=0
if [ -z "$dir" ]; then
	dir=$(mktemp -d /var/tmp/vbus-fresh-root.XXXXXX)
	made_dir=1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

mounted=()
cleanup() {
	local rc=$? p m
	trap - EXIT INT TERM
	# Processes a test left running inside the root keep its mounts busy: end them by pid.
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/root" 2>/dev/null)" = "$dir" ]; then
			kill -KILL "${p#/proc/}" 2>/dev/null || true
		fi
	done
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		m=${mounted[i]}
		umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
	done
	if [ "$keep" = 0 ] && [ "$made_dir" = 1 ]; then
		if grep -q " $dir/" /proc/mounts; then
			log "not removing $dir: something is still mounted under it"
		else
			rm -rf --one-file-system "$dir"
		fi
	fi
	if [ "$keep" = 1 ] || [ "$made_dir" = 0 ]; then
		log "root kept in $dir"
	fi
	log "steps passed: ${passed[*]:-none}"
	if [ "$rc" -eq 0 ]; then log "RESULT: pass"; else log "RESULT: FAIL (exit $rc)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

total_start=$(date +%s)
log "fresh Debian 12 root in $dir from $mirror${security:+ (security: $security)}; vbus $rev"

if ! command -v debootstrap >/dev/null; then
	step "install debootstrap on this machine"
	DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends debootstrap
	step_ok "debootstrap installed"
fi

if [ -f "$dir/.vbus-debootstrap-done" ]; then
	log "reusing the debootstrapped root in $dir"
else
	step "debootstrap --variant=minbase bookworm"
	debootstrap --variant=minbase bookworm "$dir" "$mirror"
	{
		echo "deb $mirror bookworm bookworm-updates main"
		[ -z "$security" ] || echo "deb $security bookworm-security main"
	} >"$dir/etc/apt/sources.list"
	# Packages must not start services in the chroot (there is no init in it).
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	touch "$dir/.vbus-debootstrap-done"
	step_ok "debootstrap"
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true

# The root a mount point of its own, as / is on a real host: tests that make a private mount
# namespace (unshare -m --propagation private) cannot change the propagation of a chroot's
# root that is only a directory ("cannot change root filesystem propagation").
mount --bind "$dir" "$dir"
mounted+=("$dir")
for m in proc sys dev; do
	mount --rbind "/$m" "$dir/$m"
	mounted+=("$dir/$m")
	mount --make-rslave "$dir/$m"
done

step "clean clone of $rev"
rm -rf "$dir/root/vbus"
git clone -q --no-local --no-checkout "$src" "$dir/root/vbus"
git -C "$dir/root/vbus" checkout -q --detach "$rev"
step_ok "clone"

in_root() {
	chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd /root/vbus && $1" </dev/null
}

step "tools/install-deps.sh (as root, no sudo)"
in_root "tools/install-deps.sh"
step_ok "install-deps"

if [ "$run_test" = 0 ]; then
	step "build only (meson setup + compile as tools/test.sh does)"
	in_root "meson setup build-test --native-file tools/dev.ini -Dkmod=true -Dvm-tests=enabled && meson compile -C build-test"
	step_ok "build"
else
	step "tools/test.sh build-test ${test_args[*]}"
	in_root "tools/test.sh build-test ${test_args[*]@Q}"
	step_ok "test"
fi
if [ "$run_demo" = 1 ]; then
	step "tools/demo.sh"
	in_root "tools/demo.sh"
	step_ok "demo"
fi
log "total $(($(date +%s) - total_start))s"
