#!/bin/bash
# Stacks against the real 6.1 kernel: can a vDPA device stand on an SF of vbus_sim
# ("parent": "@sf-a")? vdpa_sim_net's management device is a device of no bus and no parent
# ("vdpasim_net"), and vbus_sim registers no vDPA management device on its SFs (mlx5_vdpa does,
# on the SF's auxiliary device: "auxiliary/mlx5_core.sf.N"), so the answer must be no, said
# clearly: the start names the management device it looked for, the SF it started for it is
# stopped again, nothing else changes. One boot: tests/vm/run tests/vm/stack-sf.sh
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
ctl() { "$VBUSCTL" --direct "$@"; }

mkdir -p /etc/vbus/devices.d
check "load our modules" load_kmod
check "load vdpa_sim_net" load_fixture vdpa_sim_net
echo 1 >/sys/bus/vbus_sim/new_device
check "devlink shows vbus_sim/vbus_sim1" sh -c 'devlink dev show | grep -q vbus_sim/vbus_sim1'
check "define sf-a (SF 5 of vbus_sim1)" ctl define sf-a --kind sf --parent vbus_sim/vbus_sim1 --index 5
check "define vnet-a on @sf-a (stored: sf-a is not running)" \
	ctl define vnet-a --kind vdpa --parent @sf-a --type net
note "vdpa mgmtdev show: $(vdpa mgmtdev show | tr '\n' ' ')"
expect_fail "start vnet-a: refused, naming the management device it needs" 1 \
	"runs as auxiliary/vbus_sim.sf.0, where no vdpa device can be made" ctl start vnet-a
note "$(ctl start vnet-a 2>&1)"
check "no vDPA management device on an SF of vbus_sim" \
	sh -c '! vdpa mgmtdev show | grep -q "^auxiliary/vbus_sim"'
check "the SF it started for vnet-a was stopped again" \
	sh -c '! devlink port show | grep -q "sfnum 5"'
check "no run record is left" sh -c '[ -z "$(ls /run/vbus 2>/dev/null | grep -v "^\.")" ]'
# The same SF by itself works: the refusal is the vDPA side's.
check "sf-a alone starts" ctl start sf-a
check "devlink shows SF 5" sh -c 'devlink port show | grep -q "sfnum 5"'
note "auxiliary devices: $(ls /sys/bus/auxiliary/devices | tr '\n' ' ')"
expect_fail "stop sf-a... fine, but undefine is refused while vnet-a stands on it" 1 \
	"'vnet-a' stands on 'sf-a'" ctl undefine sf-a
check "stop sf-a" ctl stop sf-a
finish
