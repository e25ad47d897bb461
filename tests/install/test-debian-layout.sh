#!/bin/bash
# The install layout of a Debian package: a fresh meson setup with the options debhelper gives
# (dh_auto_configure), and every installed path exactly where Debian 12 puts such files.
#   test-debian-layout.sh SOURCEDIR   (TAP output)
set -u

src=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

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

out=$(meson setup "$T/build" "$src" --wrap-mode=nodownload --buildtype=plain --prefix=/usr \
	--includedir=include --mandir=share/man --infodir=share/info --sysconfdir=/etc \
	--localstatedir=/var --libdir="lib/$ma" 2>&1)
ok $? "meson setup with debhelper's options" "$out"

ver=$(meson introspect --projectinfo "$T/build" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
got=$(meson introspect --installed "$T/build" |
	python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).values())))')
want=$(sort <<END
/usr/bin/vbusctl
/usr/sbin/vbusd
/usr/lib/$ma/libvbus.so
/usr/lib/$ma/libvbus.so.0
/usr/lib/$ma/libvbus.so.$ver
/usr/lib/$ma/pkgconfig/libvbus.pc
/usr/include/libvbus.h
/lib/systemd/system/vbusd.service
/lib/udev/rules.d/99-vbus.rules
/lib/udev/rules.d/05-vbus-override.rules
/usr/libexec/vbus-udev
/usr/share/dbus-1/system.d/org.vbus1.conf
/usr/share/dbus-1/system-services/org.vbus1.service
/usr/share/dbus-1/interfaces/org.vbus1.Manager.xml
/usr/share/dbus-1/interfaces/org.vbus1.Device.xml
/usr/share/dbus-1/interfaces/org.vbus1.Parent.xml
/usr/share/polkit-1/actions/org.vbus1.policy
/usr/share/bash-completion/completions/vbusctl
/usr/share/man/man8/vbusctl.8
/usr/share/man/man8/vbusd.8
/usr/share/man/man5/vbus.json.5
/usr/share/man/man5/vbus-policy.5
/usr/share/man/man5/org.vbus1.5
/usr/share/man/man4/vbus.4
/usr/share/man/man4/vbus_sim.4
END
)
# vbus-dra (-Ddra, auto: built where its libraries are, as in CI) adds its program, unit, page.
if meson introspect --targets "$T/build" | grep -q '"name": "vbus-dra"'; then
	want=$(sort <<END
$want
/usr/sbin/vbus-dra
/lib/systemd/system/vbus-dra.service
/usr/share/man/man8/vbus-dra.8
END
)
fi
while read -r f; do
	grep -qxF "$f" <<<"$got"
	ok $? "installs $f"
done <<<"$want"
extra=$(comm -13 <(echo "$want") <(echo "$got"))
[[ -z $extra ]]
ok $? "installs nothing else" "$extra"

echo "1..$n"
[[ $failed -eq 0 ]]
