#!/bin/bash
# meson install into a scratch DESTDIR, and the tree a distribution package would ship: each file
# in the directory Debian's pkg-config files name, usable from there, and nothing else.
#   test-install.sh BUILDDIR SOURCEDIR   (TAP output)
set -u

build=$1
src=$2
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT

n=0
failed=0
ok() { # ok COND-STATUS DESCRIPTION [DIAG]
	n=$((n + 1))
	if [[ $1 -eq 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[[ -n ${3-} ]] && printf '#   %s\n' "$3"
		failed=$((failed + 1))
	fi
}

out=$(meson install -C "$build" --destdir "$D" --no-rebuild --quiet 2>&1)
ok $? "meson install --destdir succeeds" "$out"

# The build's own directories, as meson was configured.
options=$(meson introspect --buildoptions "$build")
opt() {
	python3 -c 'import json,sys; v = {o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]]
print(",".join(v) if isinstance(v, list) else v)' "$1" <<<"$options"
}
abs() { [[ $1 == /* ]] && echo "$1" || echo "$prefix/$1"; }
prefix=$(opt prefix)
bindir=$(abs "$(opt bindir)")
sbindir=$(abs "$(opt sbindir)")
libexecdir=$(abs "$(opt libexecdir)")
libdir=$(abs "$(opt libdir)")
includedir=$(abs "$(opt includedir)")
mandir=$(abs "$(opt mandir)")
datadir=$(abs "$(opt datadir)")
version=$(meson introspect --projectinfo "$build" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

# Where the distribution wants them: its pkg-config files (Debian 12: /lib/systemd/system,
# /lib/udev), else the usual place under the prefix; -D overrides of the build win.
pcvar() { pkg-config --variable="$2" "$1" 2>/dev/null; }
unitdir=$(opt systemdsystemunitdir)
[[ -z $unitdir ]] && unitdir=$(pcvar systemd systemdsystemunitdir)
[[ -z $unitdir ]] && unitdir=$prefix/lib/systemd/system
udevrulesdir=$(opt udevrulesdir)
if [[ -z $udevrulesdir ]]; then
	udevrulesdir=$(pcvar udev udevdir)
	udevrulesdir=${udevrulesdir:-$prefix/lib/udev}/rules.d
fi
dbuspolicydir=$(opt dbuspolicydir)
[[ -z $dbuspolicydir ]] && dbuspolicydir=$datadir/dbus-1/system.d
dbusservicedir=$(pcvar dbus-1 system_bus_services_dir)
[[ -z $dbusservicedir ]] && dbusservicedir=$datadir/dbus-1/system-services
polkitdir=$datadir/polkit-1/actions
completiondir=$(pkg-config --define-variable=datadir="$datadir" --variable=completionsdir \
	bash-completion 2>/dev/null)
[[ -z $completiondir ]] && completiondir=$datadir/bash-completion/completions
ifacedir=$datadir/dbus-1/interfaces

expected=(
	"$bindir/vbusctl"
	"$sbindir/vbusd"
	"$libdir/libvbus.so"
	"$libdir/libvbus.so.0"
	"$libdir/libvbus.so.$version"
	"$libdir/pkgconfig/libvbus.pc"
	"$includedir/libvbus.h"
	"$unitdir/vbusd.service"
	"$udevrulesdir/99-vbus.rules"
	"$udevrulesdir/05-vbus-override.rules"
	"$libexecdir/vbus-udev"
	"$dbuspolicydir/org.vbus1.conf"
	"$dbusservicedir/org.vbus1.service"
	"$polkitdir/org.vbus1.policy"
	"$ifacedir/org.vbus1.Manager.xml"
	"$ifacedir/org.vbus1.Device.xml"
	"$ifacedir/org.vbus1.Parent.xml"
	"$mandir/man8/vbusctl.8"
	"$mandir/man8/vbusd.8"
	"$mandir/man5/vbus.json.5"
	"$mandir/man5/vbus-policy.5"
	"$mandir/man5/org.vbus1.5"
	"$mandir/man4/vbus.4"
	"$mandir/man4/vbus_sim.4"
	"$completiondir/vbusctl"
)
# vbus-dra, when this build has it (-Ddra).
if [[ -x $build/dra/vbus-dra ]]; then
	expected+=("$sbindir/vbus-dra" "$unitdir/vbus-dra.service" "$mandir/man8/vbus-dra.8")
fi
for f in "${expected[@]}"; do
	[[ -e $D$f || -L $D$f ]]
	ok $? "installed $f"
done

# Nothing else (no test programs, no stray files).
extra=$( (cd "$D" && find . \( -type f -o -type l \) | sed 's|^\.||') | sort |
	comm -23 - <(printf '%s\n' "${expected[@]}" | sort))
[[ -z $extra ]]
ok $? "nothing installed beyond the list" "$(echo $extra)"

# The programs run from where they are, without the build tree.
for p in "$bindir/vbusctl" "$sbindir/vbusd"; do
	[[ -x $D$p ]]
	ok $? "$p is executable"
	v=$(LD_LIBRARY_PATH=$D$libdir "$D$p" --version 2>&1)
	[[ $v == "${p##*/} $version" ]]
	ok $? "$p --version says '${p##*/} $version'" "got: $v"
	rp=$(readelf -d "$D$p" 2>/dev/null | grep -E 'RPATH|RUNPATH')
	[[ $rp != *"$build"* && $rp != *"$(cd "$build" && pwd)"* ]]
	ok $? "$p carries no path into the build dir" "$rp"
done
v=$("$D$bindir/vbusctl" --root "$src/tests/data/host-mixed" parents 2>&1 | head -1)
[[ $v == PARENT* ]]
ok $? "installed vbusctl lists parents of a fake tree" "$v"

# The library: a program builds against the installed header and libvbus.pc and runs.
[[ -L $D$libdir/libvbus.so.0 && $(readlink "$D$libdir/libvbus.so.0") == "libvbus.so.$version" ]]
ok $? "libvbus.so.0 links to libvbus.so.$version"
soname=$(readelf -d "$D$libdir/libvbus.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == libvbus.so.0 ]]
ok $? "SONAME is libvbus.so.0" "got: $soname"
pcf=$D$libdir/pkgconfig/libvbus.pc
grep -q "^prefix=$prefix\$" "$pcf" 2>/dev/null && grep -q '^Requires.private:.*json-c' "$pcf" &&
	! grep -q '^Requires:' "$pcf"
ok $? "libvbus.pc names the prefix, and json-c only as private (libvbus.h needs no other header)" \
	"$(cat "$pcf" 2>&1)"
cat >"$D/use.c" <<'EOF'
#include <stdio.h>
#include <libvbus.h>
int main(int argc, char **argv)
{
	struct vbus_ctx *ctx = NULL;
	struct vbus_device **devs = NULL;
	struct vbus_def *def = NULL;
	size_t n = 0;
	int r = vbus_ctx_new(argv[1], &ctx);

	printf("%d\n", r);
	if (r < 0)
		return 1;
	vbus_ctx_set_log_level(ctx, VBUS_LOG_ERR);
	/* The model and a definition, through accessors only (libvbus.h is opaque). */
	r = vbus_list_devices(ctx, VBUS_LIST_DEFINED, "gpu-desktop", &devs, &n);
	printf("%d %zu %s\n", r, n, r >= 0 && n ? vbus_device_get_name(devs[0]) : "-");
	vbus_device_list_free(devs, n);
	r = vbus_def_new_from_json(ctx, "{\"version\": 1, \"name\": \"x\", \"kind\": \"pci\","
				   " \"parent\": \"0000:05:00.0\"}", NULL, &def);
	printf("%d %s\n", r, r >= 0 ? vbus_def_get_parent(def) : "-");
	vbus_def_free(def);
	vbus_ctx_unref(ctx);
	return 0;
}
EOF
flags=$(PKG_CONFIG_PATH=$D$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D \
	pkg-config --cflags --libs libvbus 2>&1)
ok $? "pkg-config --cflags --libs libvbus" "$flags"
# A sanitized build's library needs its runtime in the program too.
san=$(opt b_sanitize)
[[ $san != none && -n $san ]] && flags+=" -fsanitize=$san"
# shellcheck disable=SC2086
out=$(cc -o "$D/use" "$D/use.c" $flags 2>&1)
ok $? "a program compiles and links against the installed libvbus" "$out"
out=$(LD_LIBRARY_PATH=$D$libdir "$D/use" "$src/tests/data/host-mixed" 2>&1)
[[ $out == $'0\n0 1 gpu-desktop\n0 0000:05:00.0' ]]
ok $? "it runs: a context on a fake root, a listing and a definition through the public API" "$out"

# Units and bus files point at the installed daemon and at each other.
grep -q "^ExecStart=$sbindir/vbusd\\b" "$D$unitdir/vbusd.service" 2>/dev/null
ok $? "vbusd.service runs $sbindir/vbusd"
grep -q '^Type=notify' "$D$unitdir/vbusd.service" 2>/dev/null
ok $? "vbusd.service is Type=notify"
svc=$D$dbusservicedir/org.vbus1.service
grep -q '^Name=org.vbus1$' "$svc" 2>/dev/null && grep -q "^Exec=$sbindir/vbusd\\b" "$svc"
ok $? "org.vbus1.service activates org.vbus1 with $sbindir/vbusd"
sd=$(sed -n 's/^SystemdService=//p' "$svc" 2>/dev/null)
[[ $sd == vbusd.service ]] || grep -q "^Alias=$sd\$" "$D$unitdir/vbusd.service" 2>/dev/null
ok $? "SystemdService=$sd is vbusd.service or its alias"
for x in "$dbuspolicydir/org.vbus1.conf" "$polkitdir/org.vbus1.policy" \
	"$ifacedir/org.vbus1.Manager.xml" "$ifacedir/org.vbus1.Device.xml" \
	"$ifacedir/org.vbus1.Parent.xml"; do
	python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$D$x" 2>/dev/null
	ok $? "$x is well-formed XML"
done
grep -q 'org.vbus1.manage' "$D$polkitdir/org.vbus1.policy" 2>/dev/null
ok $? "the polkit file defines org.vbus1.manage"
grep -q 'SYSTEMD_WANTS' "$D$udevrulesdir/99-vbus.rules" 2>/dev/null
ok $? "the udev rules pull in vbusd.service"
grep -qF "PROGRAM=\"$libexecdir/vbus-udev pci-override %k\"" \
	"$D$udevrulesdir/05-vbus-override.rules" 2>/dev/null
ok $? "05-vbus-override.rules runs vbus-udev where it is installed"

# man finds the pages by name in the installed man dir, and they render.
for page in vbusctl.8 vbusd.8 vbus.json.5 vbus-policy.5 org.vbus1.5 vbus.4 vbus_sim.4; do
	name=${page%.*}
	sec=${page##*.}
	f=$(MANPATH=$D$mandir man -w "$sec" "$name" 2>/dev/null)
	# (a page installed as a link is shown as its target)
	[[ $f == "$D$mandir/man$sec/$page"* || $f == "$(readlink -f "$D$mandir/man$sec/$page")" ]]
	ok $? "man -w $sec $name finds the installed page" "got: $f"
	err=$(MANWIDTH=80 man --warnings -l "$D$mandir/man$sec/$page" 2>&1 >/dev/null)
	[[ -z $err ]]
	ok $? "man $name renders without warnings" "$err"
done

# The completion loads in bash and binds to vbusctl.
c=$(bash -c '. "$1" && complete -p vbusctl' _ "$D$completiondir/vbusctl" 2>&1)
[[ $c == "complete -F _vbusctl vbusctl" ]]
ok $? "the installed completion binds _vbusctl to vbusctl" "got: $c"

echo "1..$n"
[[ $failed -eq 0 ]]
