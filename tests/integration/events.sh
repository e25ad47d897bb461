#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbusctl monitor (text and -j) over vbusd with the fake kernel: every kind of change, made
# through vbusd, by vbusctl --root (--direct on a fake tree), by hand in devices.d and by the
# kernel (a fake uevent), gives exactly the expected event lines, in order. TAP output.
# Usage: events.sh VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR (as root)
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
args VBUSCTL VBUSD SRC -- "$@"

cp -a "$SRC/tests/data/host-mixed" "$ROOT"
rm -f "$ROOT/etc/vbus/devices.d/broken.json"
# Retries 1 ms apart, doubling: the give-up comes within a fraction of a second.
export VBUSD_FAKE_RETRY_USEC=1000
start_fake_vbusd

"$VBUSCTL" monitor >"$T/text" 2>"$T/text.err" &
MON_PID=$!
"$VBUSCTL" -j monitor >"$T/json" 2>"$T/json.err" &
EXTRA_PIDS=$!
for _ in $(seq 200); do
	grep -q Monitoring "$T/text.err" "$T/json.err" 2>/dev/null &&
		[ "$(cat "$T/text.err" "$T/json.err" | grep -c Monitoring)" = 2 ] && break
	sleep 0.05
done

want=()  # the text lines every monitor must print, in order
# step DESCRIPTION LINES...: after the change just made, both monitors print LINES next (one
# argument each), and nothing else.
step() {
	local what=$1 got
	shift
	want+=("$@")
	for _ in $(seq 200); do
		[ "$(wc -l <"$T/text")" -ge "${#want[@]}" ] &&
			[ "$(wc -l <"$T/json")" -ge "${#want[@]}" ] && break
		sleep 0.05
	done
	sleep 0.2 # anything more would come now
	got=$(tail -n +$((${#want[@]} - $# + 1)) "$T/text")
	if [ "$got" = "$(printf '%s\n' "$@")" ] && [ "$(wc -l <"$T/text")" = "${#want[@]}" ]; then
		ok "$what"
	else
		not_ok "$what" "want:" "$@" "got:" "${got//$'\n'/$'\n'# }"
	fi
}

MTTY_UUID=aaaaaaaa-2222-4333-8444-000000000001

# ---- through vbusd ---------------------------------------------------------------------------
vbusctl define vm1 --kind mdev --parent mtty --type mtty-2 --uuid "$MTTY_UUID" --manual \
	>/dev/null
step "define: added, defined" "added     vm1" "defined   vm1"
vbusctl modify vm1 --tag vm >/dev/null
step "modify: modified" "modified  vm1"
vbusctl start vm1
step "start: started, bound to the parent's mdev driver" "started   vm1" "bound     vm1 mtty"
vbusctl stop vm1
step "stop: unbound, stopped" "unbound   vm1 mtty" "stopped   vm1"
vbusctl undefine vm1
step "undefine: undefined, removed" "undefined vm1" "removed   vm1"
vbusctl create c1 --kind mdev --parent mtty --type mtty-2 --uuid "$MTTY_UUID" --manual \
	>/dev/null
step "create: added, defined, started, bound" "added     c1" "defined   c1" "started   c1" \
	"bound     c1 mtty"
vbusctl remove c1
step "remove: unbound, stopped, undefined, removed" "unbound   c1 mtty" "stopped   c1" \
	"undefined c1" "removed   c1"
echo 0 >"$ROOT/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances"
vbusctl define f1 --kind mdev --parent mtty --type mtty-1 --manual >/dev/null
vbusctl start f1 2>/dev/null
step "a start that fails: failed, with the cause" "added     f1" "defined   f1" \
	"failed    f1 start: parent mtty has no instance of type mtty-1 left"
vbusctl undefine f1
step "undefine f1" "undefined f1" "removed   f1"

# A running device vbus started (reconcile at vbusd's start gave gpu-desktop its driver and
# recorded the run): undefined, it stays listed under its name; defined again, the same.
cp "$ROOT/etc/vbus/devices.d/gpu-desktop.json" "$T/gpu.json"
vbusctl undefine gpu-desktop
step "undefine of a device vbus started: only the definition goes" "undefined gpu-desktop"
vbusctl define --jsonfile "$T/gpu.json" >/dev/null
step "defined again" "defined   gpu-desktop"

# ---- by another process: vbusctl --root (in-process, as --direct) and an editor ---------------
"$VBUSCTL" --root "$ROOT" create d1 --kind mdev --parent mtty --type mtty-2 --uuid "$MTTY_UUID" \
	--manual >/dev/null
# The definition file is seen through inotify, the mdev through what udev reports of it.
echo "add mdev $MTTY_UUID" >"$T/uevents"
step "--direct create (devices.d and the kernel's add event)" "added     d1" "defined   d1" \
	"started   d1" "bound     d1 mtty"
"$VBUSCTL" --root "$ROOT" modify d1 --driver none >/dev/null
step "--direct modify" "modified  d1"
"$VBUSCTL" --root "$ROOT" stop d1
# What udev reports when the mdev goes away.
echo "remove mdev $MTTY_UUID" >"$T/uevents"
step "--direct stop (the kernel's remove event)" "unbound   d1 mtty" "stopped   d1"
"$VBUSCTL" --root "$ROOT" undefine d1
step "--direct undefine" "undefined d1" "removed   d1"
cat >"$ROOT/etc/vbus/devices.d/h1.json" <<'EOF'
{ "version": 1, "name": "h1", "kind": "pci", "parent": "0000:0a:00.0", "start": "manual" }
EOF
step "a definition written by hand" "added     h1" "defined   h1"
sed -i 's/"manual"/"manual", "tags": [ "x" ]/' "$ROOT/etc/vbus/devices.d/h1.json"
step "... edited by hand" "modified  h1"
rm "$ROOT/etc/vbus/devices.d/h1.json"
step "... removed by hand" "undefined h1" "removed   h1"

# ---- by the kernel -------------------------------------------------------------------------------
# 0000:04:00.0 is held by vfio-pci (driver_override), defined by nobody: unbound by hand.
# From here the fake kernel numbers its uevents as the real one does (the whole read the unbind
# causes reads the number: 1000).
echo 1000 >"$ROOT/sys/kernel/uevent_seqnum"
NIC=$ROOT/sys/devices/pci0000:00/0000:00:1c.4/0000:04:00.0
rm "$NIC/driver" "$ROOT/sys/bus/pci/drivers/vfio-pci/0000:04:00.0"
echo "unbind pci 0000:04:00.0" >"$T/uevents"
step "a kernel unbind seen through udev" "unbound   0000:04:00.0 vfio-pci"

# The kernel sends a uevent after the change it announces: one numbered up to the
# uevent_seqnum read before the model read a device changed nothing that read missed, and is
# not read again (an mdev vbusd starts brings add, bind, vfio and vfio-dev events, all older
# than the read its start ends with). Here the fake kernel's device is bound again behind
# such events, so a read would show: nothing may.
ln -s ../../../../bus/pci/drivers/vfio-pci "$NIC/driver"
ln -s ../../../../devices/pci0000:00/0000:00:1c.4/0000:04:00.0 \
	"$ROOT/sys/bus/pci/drivers/vfio-pci/0000:04:00.0"
lines=$(wc -l <"$T/text")
{
	echo "bind pci 0000:04:00.0 SEQNUM=999"
	echo "add vfio 9 SEQNUM=1000"
	echo "add vfio-dev vfio0 SEQNUM=998 DEVPATH=/devices/pci0000:00/0000:00:1c.4/0000:04:00.0/vfio-dev/vfio0"
} >"$T/uevents"
wait_check "vbusd passed over the bind uevent the model's read holds" 10 \
	grep -q "uevent 999 of '0000:04:00.0': the model read it after that already" "$T/vbusd.log"
wait_check "... and the vfio group's (its devices from /sys/kernel/iommu_groups)" 10 \
	grep -q "uevent 1000 of vfio 9: the model read its devices after that already" "$T/vbusd.log"
wait_check "... and the vfio-dev node's (its device from the devpath)" 10 \
	grep -q "uevent 998 of vfio-dev vfio0: the model read its devices after that already" \
	"$T/vbusd.log"
sleep 0.3
check "none of them read the device again (no event)" [ "$(wc -l <"$T/text")" = "$lines" ]
echo "bind pci 0000:04:00.0 SEQNUM=1001" >"$T/uevents"
step "a newer uevent is read: the bind by hand shows" "bound     0000:04:00.0 vfio-pci"
# A remove is sent before the device's sysfs directory goes: a read after its number may have
# seen the device still there, so it is read whatever its number.
rm "$NIC/driver" "$ROOT/sys/bus/pci/drivers/vfio-pci/0000:04:00.0"
echo "remove pci 0000:04:00.0 SEQNUM=500" >"$T/uevents"
step "a remove is read even when numbered before the last read" "unbound   0000:04:00.0 vfio-pci"

# ---- autostart when the parent registers -------------------------------------------------------
vbusctl define a2 --kind mdev --parent mtty --type mtty-2 --auto >/dev/null
step "an autostart definition with room on its parent" "added     a2" "defined   a2"
busctl monitor --json=short --match "type='signal',path='/org/vbus1/device/a2'" \
	>"$T/a2.json" 2>/dev/null &
A2_PID=$!
sleep 0.5
echo "change mtty mtty registered" >"$T/uevents"
step "its parent registers: started and bound, its definition not modified" "started   a2" \
	"bound     a2 mtty"
sleep 0.3
kill "$A2_PID" 2>/dev/null
wait "$A2_PID" 2>/dev/null
check "PropertiesChanged of the autostart names what changed with its new values, not Driver" \
	python3 - "$T/a2.json" <<'PY'
import json, sys
ms = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pc = [m["payload"]["data"][1] for m in ms if m.get("member") == "PropertiesChanged"]
assert len(pc) == 1, ms
p = pc[0]
assert p["Active"]["data"] is True, p
assert p["BoundDriver"]["data"] == "mtty", p
assert p["SysfsPath"]["data"].startswith("/sys/bus/mdev/devices/"), p
assert not {"Driver", "Defined", "Start", "Parent", "Type", "Tags", "Name"} & set(p), p
PY

# ---- retries that give up ----------------------------------------------------------------------
vbusctl define a1 --kind mdev --parent mtty --type mtty-1 --auto >/dev/null
step "an autostart definition" "added     a1" "defined   a1"
echo "change mtty mtty registered" >"$T/uevents"
fail="failed    a1 start: parent mtty has no instance of type mtty-1 left"
step "its parent registers: each start fails, then vbusd gives up" "$fail" "$fail" "$fail" \
	"$fail" "$fail" "$fail" "$fail" "$fail" \
	"gave-up   a1 start after 7 attempts: parent mtty has no instance of type mtty-1 left"

# ---- apply --now ---------------------------------------------------------------------------
# The definitions as they are, and one more: the changes, then each start that failed.
"$VBUSCTL" -j list --defined | python3 -c 'import json, sys
defs = json.load(sys.stdin)
defs.append({"name": "p1", "kind": "mdev", "parent": "mtty", "type": "mtty-1"})
print(json.dumps(defs))' >"$T/p1.json"
vbusctl apply "$T/p1.json" --now >/dev/null 2>&1
fail="start: parent mtty has no instance of type mtty-1 left"
step "apply --now: the new definition, then the starts that failed" "added     p1" \
	"defined   p1" "failed    a1 $fail" "failed    p1 $fail"

# ---- the JSON lines: the same events, with "event", "name", "path" and their details -----------
check "monitor -j printed one JSON object per event, with the text's event and name" \
	python3 - "$T/json" "$T/text" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
text = [l.split()[:2] for l in open(sys.argv[2])]
assert [[e["event"], e["name"]] for e in evs] == text, ([[e["event"], e["name"]] for e in evs], text)
for e in evs:
    assert e["path"].startswith("/org/vbus1/device/"), e
    extra = set(e) - {"event", "name", "path"}
    want = {"added": {"device"}, "defined": {"device"}, "modified": {"device"},
            "started": {"sysfs_path"}, "bound": {"driver"}, "unbound": {"driver"},
            "stopped": set(), "undefined": set(), "removed": set(),
            "failed": {"action", "error", "message"},
            "gave-up": {"action", "attempts", "message"}}[e["event"]]
    assert extra == want, e
    if "device" in e:
        assert e["device"]["name"] == e["name"], e
ev = {(e["event"], e["name"]): e for e in evs}
assert ev[("modified", "d1")]["device"]["driver"] == "none", ev[("modified", "d1")]
assert ev[("started", "c1")]["sysfs_path"].endswith("aaaaaaaa-2222-4333-8444-000000000001"), ev
f = ev[("failed", "f1")]
assert (f["action"], f["error"]) == ("start", "org.vbus1.Error.NoSpace"), f
g = ev[("gave-up", "a1")]
assert (g["action"], g["attempts"]) == ("start", 7), g
PY
check "vbusd lives" alive
finish
