#!/bin/bash
# dkms add/build of kmod/ as a user would package it, for an installed kernel's headers (Debian
# 12: 6.1.0-*-amd64). Everything happens in private dkms and source trees under a temp dir with a
# unique version, so the machine's /var/lib/dkms and /usr/src are never touched.
#   test-dkms.sh KMOD_SRCDIR [KVER]   (TAP output)
set -u

kmod=$1
kver=${2-}
if [[ -z $kver ]]; then
	# The newest kernel with a build tree, never the running one (the build host may run
	# another kernel than it builds for).
	kver=$(for d in /lib/modules/*/build; do
		[[ -e $d/Makefile ]] && basename "$(dirname "$d")"
	done | sort -V | tail -n 1)
fi

ver=0.1.0.test$$.$(date +%s)
T=$(mktemp -d)
tree=$T/dkms
srctree=$T/src
mkdir -p "$tree" "$srctree"
dkms=(dkms --dkmstree "$tree" --sourcetree "$srctree")
# dkms signs what it builds, making a key in /var/lib/dkms when there is none: a private one.
export mok_signing_key=$T/mok.key mok_certificate=$T/mok.pub
cleanup() {
	"${dkms[@]}" --installtree "$T/modules" --no-depmod remove -m vbus -v "$ver" --all \
		>/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

n=0
failed=0
ok() { # ok STATUS DESCRIPTION [DIAG]
	n=$((n + 1))
	if [[ $1 -eq 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[[ -n ${3-} ]] && printf '%s\n' "$3" | tail -n 30 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}

command -v dkms >/dev/null
ok $? "dkms is installed"
[[ -n $kver && -e /lib/modules/$kver/build/Makefile ]]
ok $? "a kernel build tree to build for: ${kver:-none}"

# The module's sources as a release tarball would have them (what git tracks in kmod/, not
# objects a developer built in place), at the unique version.
dst=$srctree/vbus-$ver
mkdir -p "$dst"
if git -C "$kmod" rev-parse --git-dir >/dev/null 2>&1; then
	files=$(git -C "$kmod" ls-files .)
else
	files=$(cd "$kmod" && find . -type f \( -name '*.[ch]' -o -name Kbuild -o -name Makefile \
		-o -name dkms.conf \) ! -name '*.mod.c' | sed 's|^\./||')
fi
(cd "$kmod" && printf '%s\n' $files | cpio -pdm --quiet "$dst")
ok $? "kmod sources copied" "$files"
grep -q '^PACKAGE_VERSION=' "$dst/dkms.conf"
ok $? "dkms.conf sets PACKAGE_VERSION"
sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$ver\"/" "$dst/dkms.conf"

out=$("${dkms[@]}" add -m vbus -v "$ver" 2>&1)
ok $? "dkms add -m vbus -v $ver" "$out"
out=$("${dkms[@]}" build -m vbus -v "$ver" -k "$kver" 2>&1)
st=$?
[[ $st -ne 0 ]] && out+=$'\n'$(cat "$tree/vbus/$ver/build/make.log" 2>/dev/null)
ok $st "dkms build -m vbus -v $ver -k $kver" "$out"

[[ -f $T/mok.key || $out != *"Signing key"* ]]
ok $? "dkms signed with a key of its own temp dir, not /var/lib/dkms" "$(grep -i 'key' <<<"$out")"

st=$("${dkms[@]}" status -m vbus -v "$ver" -k "$kver" 2>&1)
[[ $st == *"vbus/$ver, $kver, "*": built"* ]]
ok $? "dkms status says built" "$st"

for m in vbus vbus_sim vbus_sim_drv; do
	ko=$(find "$tree/vbus/$ver/$kver" -name "$m.ko*" 2>/dev/null | head -n 1)
	[[ -n $ko ]]
	ok $? "$m.ko is built" "$(find "$tree/vbus/$ver" 2>&1)"
	vm=$(modinfo -F vermagic "$ko" 2>/dev/null)
	[[ $vm == "$kver "* ]]
	ok $? "$m.ko is for $kver" "vermagic: $vm"
	lic=$(modinfo -F license "$ko" 2>/dev/null)
	[[ $lic == GPL ]]
	ok $? "$m.ko is GPL" "license: $lic"
done
ko=$(find "$tree/vbus/$ver/$kver" -name "vbus.ko*" 2>/dev/null | head -n 1)
modinfo -F alias "$ko" 2>/dev/null | grep -qx 'net-pf-16-proto-16-family-vbus'
ok $? "vbus.ko loads on first use of the vbus genl family (alias)"
ko=$(find "$tree/vbus/$ver/$kver" -name "vbus_sim.ko*" 2>/dev/null | head -n 1)
dep=$(modinfo -F depends "$ko" 2>/dev/null)
[[ ,$dep, == *,vbus,* ]]
ok $? "vbus_sim.ko depends on vbus" "depends: $dep"
ko=$(find "$tree/vbus/$ver/$kver" -name "vbus_sim_drv.ko*" 2>/dev/null | head -n 1)
al=$(modinfo -F alias "$ko" 2>/dev/null | sort | tr '\n' ' ')
[[ $al == "virtbus:vbus_sim.blk virtbus:vbus_sim.net " ]]
ok $? "vbus_sim_drv.ko is loaded by udev for vbus_sim's net and blk devices (aliases)" "alias: $al"

# dkms install into a private install tree, without depmod: the modules land where dkms.conf
# says (updates/dkms), and the machine's /lib/modules stays as it was.
itree=$T/modules
mkdir -p "$itree/$kver"
before=$(find "/lib/modules/$kver" -newer "$T" -print 2>/dev/null | head -n 5)
out=$("${dkms[@]}" --installtree "$itree" --no-depmod install -m vbus -v "$ver" -k "$kver" 2>&1)
ok $? "dkms install -m vbus -v $ver -k $kver (private install tree)" "$out"
for m in vbus vbus_sim vbus_sim_drv; do
	f=$(find "$itree/$kver/updates/dkms" -name "$m.ko*" 2>/dev/null | head -n 1)
	[[ -n $f ]]
	ok $? "$m.ko installed in updates/dkms" "$(find "$itree" 2>&1)"
done
st=$("${dkms[@]}" --installtree "$itree" status -m vbus -v "$ver" -k "$kver" 2>&1)
[[ $st == *"vbus/$ver, $kver, "*": installed"* ]]
ok $? "dkms status says installed" "$st"
after=$(find "/lib/modules/$kver" -newer "$T" -print 2>/dev/null | head -n 5)
[[ -z $after || $after == "$before" ]]
ok $? "nothing under /lib/modules/$kver changed" "$after"
out=$("${dkms[@]}" --installtree "$itree" --no-depmod uninstall -m vbus -v "$ver" -k "$kver" 2>&1)
ok $? "dkms uninstall" "$out"
left=$(find "$itree/$kver" -name '*.ko*' 2>/dev/null)
[[ -z $left ]]
ok $? "dkms uninstall removes the modules" "$left"

out=$("${dkms[@]}" remove -m vbus -v "$ver" --all 2>&1)
ok $? "dkms remove --all" "$out"
[[ ! -e $tree/vbus/$ver ]]
ok $? "nothing of $ver is left in the dkms tree"

echo "1..$n"
[[ $failed -eq 0 ]]
