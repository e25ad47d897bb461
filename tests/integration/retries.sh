#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbusd while hundreds of starts keep failing: every device still gets its DeviceFailed and
# DeviceGaveUp signals, but the log gets one line per parent and retry round, not one per
# device. TAP output.
# Usage: retries.sh VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR (as root)
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
args VBUSCTL VBUSD SRC -- "$@"
N=150 # definitions per parent
ATTEMPTS=7 # daemon/provision.c's RETRY_MAX: 1 + 7 starts, then vbusd gives up

cp -a "$SRC/tests/data/host-mixed" "$ROOT"
rm -f "$ROOT/etc/vbus/devices.d/broken.json"
# No instance left of these types: every start of the definitions below fails.
echo 0 >"$ROOT/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances"
echo 0 >"$ROOT/sys/class/mdev_bus/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_8/available_instances"
# Retries 1 ms apart, doubling: the give-up comes within a fraction of a second.
export VBUSD_FAKE_RETRY_USEC=1000
start_fake_vbusd

"$VBUSCTL" -j monitor >"$T/events" 2>"$T/monitor.err" &
MON_PID=$!
for _ in $(seq 200); do
	grep -q Monitoring "$T/monitor.err" 2>/dev/null && break
	sleep 0.05
done

# N start:auto definitions on each parent, written behind vbusd's back (it sees them through
# inotify and does not start them: nothing told it their parent appeared).
python3 - "$ROOT/etc/vbus/devices.d" "$N" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for k, (parent, typ, prefix) in enumerate((("mtty", "mtty-1", "m"),
                                          ("0000:00:02.0", "i915-GVTg_V5_8", "g"))):
    for i in range(n):
        name = f"{prefix}{i:04d}"
        with open(f"{d}/.{name}.tmp", "w") as f:
            json.dump({"version": 1, "name": name, "kind": "mdev", "parent": parent,
                       "type": typ, "uuid": f"0d0f5c1e-0000-4000-800{k}-{i:012x}",
                       "start": "auto"}, f)
        os.rename(f"{d}/.{name}.tmp", f"{d}/{name}.json")
PY
defined() {
	"$VBUSCTL" -j list --defined | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}
for _ in $(seq 200); do
	[ "$(defined)" = $((2 * N + 2)) ] && break
	sleep 0.1
done
check "vbusd lists the $((2 * N)) new definitions" test "$(defined)" = $((2 * N + 2))

# A module loaded: vbusd tries every start:auto definition whose device is not there.
log_before=$(wc -l <"$T/vbusd.log")
t0=$(date +%s.%N)
echo "add module mdev" >"$T/uevents"
gave_up() {
	grep -c '"event": *"gave-up"' "$T/events"
}
for _ in $(seq 600); do
	[ "$(gave_up)" -ge $((2 * N)) ] && break
	sleep 0.1
done
sleep 0.5 # anything more would come now
echo "# $((2 * N)) definitions failed $((ATTEMPTS + 1)) times, in $(echo "$(date +%s.%N) - $t0 - 0.5" | bc) s"

check "each device got $((ATTEMPTS + 1)) DeviceFailed and one DeviceGaveUp, with the cause" \
	python3 - "$T/events" "$N" "$ATTEMPTS" <<'PY'
import collections, json, sys
n, attempts = int(sys.argv[2]), int(sys.argv[3])
failed, gave_up = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "failed":
        assert e["message"].startswith("parent "), e
        assert "has no instance of type" in e["message"], e
        failed[e["name"]] += 1
    elif e["event"] == "gave-up":
        assert e["attempts"] == attempts, e
        gave_up[e["name"]] += 1
names = {f"{p}{i:04d}" for p in "mg" for i in range(n)}
assert set(failed) == names and set(failed.values()) == {attempts + 1}, failed
assert set(gave_up) == names and set(gave_up.values()) == {1}, gave_up
PY

# What the log got meanwhile: the lines above debug ("<N>" prefix, N < 7).
tail -n +$((log_before + 1)) "$T/vbusd.log" | grep -E '^<[0-6]>' >"$T/lines"
check "one log line per parent and round: $((2 * (ATTEMPTS + 1))) in all" \
	test "$(wc -l <"$T/lines")" = $((2 * (ATTEMPTS + 1)))
for p in mtty:m "0000:00:02.0:g"; do
	parent=${p%:*} first=${p##*:}0000
	check "$parent: $ATTEMPTS rounds of '$N devices failed to start', each with the next delay" \
		python3 - "$T/lines" "$parent" "$N" "$first" "$ATTEMPTS" <<'PY'
import re, sys
path, parent, n, first, attempts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lines = [l.rstrip("\n") for l in open(path) if l.startswith(f"<5>{parent}: ")]
want = [f"<5>{parent}: {n} devices failed to start (first: {first}: parent {parent} has no "
        f"instance of type " for _ in range(attempts)]
assert len(lines) == attempts, lines
delays = []
for line, w in zip(lines, want):
    assert line.startswith(w), (line, w)
    m = re.search(r"; retry in ([0-9.]+) s$", line)
    assert m, line
    delays.append(float(m.group(1)))
assert delays == [0.001 * 2 ** i for i in range(attempts)], delays
PY
	check "$parent: then one line giving up on the $N" \
		grep -qx "<4>$parent: $N devices failed to start (first: $first: parent $parent has no instance of type .* left); giving up after $ATTEMPTS attempts" "$T/lines"
done
check "no line per device" bash -c "! grep -q \"Failed to start '\" '$T/lines'"
check "vbusd lives" alive

# A listing while the first retry round runs, right after vbusd's start: vbusd restarted with
# M failing start:auto definitions on mtty. Its start-up reconcile fails them before READY=1
# and the round starts 1 ms later, in slices. The first call is answered between two slices,
# before the round's line: sd-bus holds the NameAcquired signal it read while vbusd took its
# name, and slices at the bus's priority kept it (and the call behind it) waiting for the
# whole round.
M=3000
kill "$MON_PID" "$VBUSD_PID"
wait "$MON_PID" "$VBUSD_PID" 2>/dev/null
MON_PID= VBUSD_PID=
python3 - "$ROOT/etc/vbus/devices.d" "$N" "$M" <<'PY'
import json, os, sys
d, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n, m):
    name = f"m{i:04d}"
    with open(f"{d}/{name}.json", "w") as f:
        json.dump({"version": 1, "name": name, "kind": "mdev", "parent": "mtty",
                   "type": "mtty-1", "uuid": f"0d0f5c1e-0000-4000-8000-{i:012x}",
                   "start": "auto"}, f)
PY
log_before=$(wc -l <"$T/vbusd.log")
start_vbusd || not_ok "vbusd restarts with $M failing definitions" "$(tail -5 "$T/vbusd.log")"
"$VBUSCTL" -j list --defined >"$T/first.json"
tail -n +$((log_before + 1)) "$T/vbusd.log" | grep -E '^<[0-6]>' >"$T/lines-restart"
check "the first listing after READY=1 lists all $((M + N + 2)) definitions" \
	test "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/first.json")" = $((M + N + 2))
check "it came while the first retry round of the $M ran, not after it" \
	bash -c "grep -q '^<5>mtty: $M devices failed to start .*; retry in 0.001 s\$' '$T/lines-restart' &&
		! grep -q '^<5>mtty: .*; retry in 0.002 s\$' '$T/lines-restart'"
check "vbusd lives" alive

# A parent with many autostart definitions appears: vbusd starts them in slices and answers
# in between. vbusd restarted with 150 of them on mtty, the parent away; each create takes
# the fake kernel 20 ms (3 s for the 150). A listing made as the parent registers comes back
# before the last of them started.
kill "$VBUSD_PID"
wait "$VBUSD_PID" 2>/dev/null
status=$?
VBUSD_PID=
check "vbusd stopped in the middle of its retries exits 0 (ends its batches before freeing their rounds)" \
	test "$status" = 0
rm -f "$ROOT"/etc/vbus/devices.d/m[1-9][0-9][0-9][0-9].json "$ROOT"/etc/vbus/devices.d/m0[1-9][5-9][0-9].json \
	"$ROOT"/etc/vbus/devices.d/m0[2-9][0-9][0-9].json "$ROOT"/etc/vbus/devices.d/g*.json
echo 1000 >"$ROOT/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances"
mv "$ROOT/sys/class/mdev_bus/mtty" "$T/mtty-away"
VBUS_FAKE_CREATED_USEC=20000 start_vbusd ||
	not_ok "vbusd restarts with $N definitions on an absent parent" "$(tail -5 "$T/vbusd.log")"
mv "$T/mtty-away" "$ROOT/sys/class/mdev_bus/mtty"
echo "change mdev mtty registered" >"$T/uevents"
sleep 0.2
"$VBUSCTL" -j list --defined >"$T/during.json"
running() {
	python3 -c 'import json, sys
print(sum(1 for d in json.load(open(sys.argv[1])) if d["name"].startswith("m") and d["active"]))' "$1"
}
echo "# $(running "$T/during.json") of $N active in the listing made as mtty registered"
check "the listing came while vbusd started the $N (some of them active, not all)" \
	test "$(running "$T/during.json")" -gt 0 -a "$(running "$T/during.json")" -lt "$N"
# One not started yet is undefined meanwhile: the later slices leave it.
X=$(python3 -c 'import json, sys
print(sorted(d["name"] for d in json.load(open(sys.argv[1])) if d["name"].startswith("m") and not d["active"])[-1])' "$T/during.json")
check "undefine $X (not started yet) while vbusd starts the others" "$VBUSCTL" undefine "$X"
for _ in $(seq 300); do
	"$VBUSCTL" -j list --defined >"$T/after.json"
	[ "$(running "$T/after.json")" = $((N - 1)) ] && break
	sleep 0.1
done
check "then the other $((N - 1)) are active" test "$(running "$T/after.json")" = $((N - 1))
check "each started once" test "$(grep -c "Started 'm0" "$T/vbusd.log")" = $((N - 1))
check "$X was not started, nor tried" \
	bash -c "! grep -q \"Started '$X'\|Failed to start '$X'\|first: $X:\" '$T/vbusd.log'"
check "vbusd lives" alive
check "no sanitizer report in vbusd's log" bash -c "! grep -q Sanitizer '$T/vbusd.log'"
finish
