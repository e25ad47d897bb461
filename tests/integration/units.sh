#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped unit, bus, polkit and udev files: hardening score, contents, install places.
# TAP output. Usage: units.sh SRCDIR BUILDDIR
set -u

SRC=$(realpath "$1")
BUILD=$(realpath "$2")
UNIT=$BUILD/units/vbusd.service
n=0
failed=0

check() {
	local what=$1 out
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $what"
	else
		failed=$((failed + 1))
		echo "not ok $n - $what"
		echo "# command: $*"
		echo "# ${out//$'\n'/$'\n'# }"
	fi
}

score=$(systemd-analyze security --offline=true "$UNIT" 2>&1 | sed -n 's/.*exposure level for vbusd.service: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security --offline=true: $score"
check "vbusd.service exposure is at most 3.0 (systemd-analyze --threshold=30)" \
	systemd-analyze security --offline=true --threshold=30 "$UNIT"
check "vbusd.service is Type=notify with BusName=org.vbus1" \
	bash -c "grep -qx 'Type=notify' '$UNIT' && grep -qx 'BusName=org.vbus1' '$UNIT'"
check "vbusd.service runs the installed vbusd" grep -qx 'ExecStart=/.*/sbin/vbusd' "$UNIT"
check "vbusd.service may write only /etc/vbus, /run/vbus, /run/cdi and /sys" \
	bash -c "grep -qx 'ProtectSystem=strict' '$UNIT' &&
		grep -qx 'ReadWritePaths=/etc/vbus /run/vbus /sys' '$UNIT' &&
		grep -qx 'RuntimeDirectory=vbus cdi' '$UNIT'"
check "vbusd.service is reached by D-Bus activation through its alias" \
	bash -c "grep -qx 'Alias=dbus-org.vbus1.service' '$UNIT' &&
		grep -qx 'SystemdService=dbus-org.vbus1.service' '$BUILD/units/org.vbus1.service' &&
		grep -qx 'Name=org.vbus1' '$BUILD/units/org.vbus1.service'"
check "the polkit file defines org.vbus1.manage, admin auth by default" \
	python3 -c 'import sys, xml.etree.ElementTree as E
a = E.parse(sys.argv[1]).getroot().find("action")
assert a.get("id") == "org.vbus1.manage"
assert a.find("defaults/allow_any").text == "auth_admin"' "$SRC/units/org.vbus1.policy"
check "the D-Bus policy lets only root own org.vbus1" \
	python3 -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
owners = [p.get("user") for p in r.findall("policy") if p.find("allow[@own]") is not None]
assert owners == ["root"], owners
d = [p for p in r.findall("policy") if p.get("context") == "default"][0]
assert d.find("allow[@send_destination=\"org.vbus1\"]") is not None' "$SRC/units/org.vbus1.conf"
check "the udev rules pull in vbusd.service and do no work inside udev" \
	bash -c "grep -q 'ENV{SYSTEMD_WANTS}+=\"vbusd.service\"' '$SRC/units/99-vbus.rules' &&
		! grep -v '^#' '$SRC/units/99-vbus.rules' | grep -q 'RUN'"

installed=$(meson introspect "$BUILD" --installed)
where() {
	python3 -c 'import json, sys
m = json.loads(sys.argv[1])
print("\n".join(v for k, v in m.items() if k.endswith("/" + sys.argv[2])))' "$installed" "$1"
}
check "vbusd.service goes to the systemd unit dir" \
	test "$(where vbusd.service)" = "$( (pkg-config --variable=systemdsystemunitdir systemd ||
		echo /usr/local/lib/systemd/system) | head -1)/vbusd.service"
check "99-vbus.rules goes to the udev rules dir" \
	test "$(where 99-vbus.rules)" = "$(pkg-config --variable=udevdir udev)/rules.d/99-vbus.rules"
check "05-vbus-override.rules goes to the udev rules dir, before 80-drivers.rules" \
	test "$(where 05-vbus-override.rules)" = \
	"$(pkg-config --variable=udevdir udev)/rules.d/05-vbus-override.rules"
check "05-vbus-override.rules runs the installed vbus-udev on PCI add events only" \
	bash -c "grep -qF 'PROGRAM=\"$(where vbus-udev) pci-override %k\"' \
		'$BUILD/units/05-vbus-override.rules' &&
		grep -qx 'ACTION!=\"add\", GOTO=\"vbus_override_end\"' '$SRC/units/05-vbus-override.rules.in' &&
		grep -qx 'SUBSYSTEM!=\"pci\", GOTO=\"vbus_override_end\"' '$SRC/units/05-vbus-override.rules.in'"
check "org.vbus1.conf goes to share/dbus-1/system.d" \
	bash -c "[[ '$(where org.vbus1.conf)' == */share/dbus-1/system.d/org.vbus1.conf ]]"
check "org.vbus1.service goes to share/dbus-1/system-services" \
	bash -c "[[ '$(where org.vbus1.service)' == */dbus-1/system-services/org.vbus1.service ]]"
check "org.vbus1.policy goes to share/polkit-1/actions" \
	bash -c "[[ '$(where org.vbus1.policy)' == */share/polkit-1/actions/org.vbus1.policy ]]"
check "the introspection XML is installed" \
	bash -c "[[ '$(where org.vbus1.Manager.xml)' == */share/dbus-1/interfaces/org.vbus1.Manager.xml ]]"

echo "1..$n"
exit $((failed > 0))
