#!/bin/bash
# tests/vm/run --systemd: sourced by lib/init.sh once the mounts are in place; makes systemd
# PID 1 with a target that runs the scripts from a service (lib/systemd-scripts.sh), which then
# powers off. Everything written here lives in the tmpfs overlay and is lost at power off.

vm_systemd_etc=/etc/systemd/system

# Slow or pointless on a 9p root without disks or network: masked, so boot stays short.
# The udev daemon stays; the full coldplug trigger (40 modules over 9p) does not: scripts
# trigger the subsystems they need.
vm_systemd_masked=(
	systemd-udev-trigger.service
	systemd-timesyncd.service systemd-pstore.service systemd-random-seed.service
	systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
	sys-fs-fuse-connections.mount sys-kernel-config.mount
	systemd-firstboot.service systemd-repart.service systemd-machine-id-commit.service
	systemd-pcrphase-sysinit.service systemd-pcrphase.service
	ldconfig.service systemd-hwdb-update.service systemd-journal-catalog-update.service
	systemd-update-done.service systemd-update-utmp.service
	systemd-remount-fs.service systemd-fsck-root.service
	cryptsetup.target integritysetup.target veritysetup.target remote-fs.target
	timers.target systemd-tmpfiles-clean.timer
	getty.target uuidd.socket e2scrub_reap.service postgresql.service
	nvmf-autoconnect.service nvmefc-boot-connections.service
)

vm_systemd_masked_generators=(
	postgresql-generator systemd-sysv-generator systemd-gpt-auto-generator
	systemd-cryptsetup-generator systemd-integritysetup-generator
	systemd-veritysetup-generator systemd-hibernate-resume-generator
	systemd-getty-generator systemd-rc-local-generator systemd-system-update-generator
)

vm_systemd_boot() {
	local lib=$1
	local sd=/lib/systemd/systemd

	: "${out:?set by lib/init.sh: the results dir as the guest sees it}"
	[ -x "$sd" ] || { echo "init: --systemd: no $sd (apt-get install systemd)"; return 1; }
	# The host's fstab names the host's disks: systemd would wait for them.
	: >/etc/fstab
	mkdir -p "$vm_systemd_etc" /etc/systemd/journald.conf.d
	printf '[Journal]\nStorage=volatile\n' >/etc/systemd/journald.conf.d/90-vbus-vm.conf
	# One process for all the links: every fork+exec costs 0.1-0.3 s in TCG over 9p.
	perl -e '$d = shift; for (@ARGV) { unlink "$d/$_"; symlink "/dev/null", "$d/$_" or die "$_: $!" }' \
		"$vm_systemd_etc" "${vm_systemd_masked[@]}"

	cat >"$vm_systemd_etc/vbus-vm.target" <<EOT
[Unit]
Description=vbus VM test scripts
Requires=basic.target
After=basic.target
Wants=vbus-vm-scripts.service
AllowIsolate=yes
JobTimeoutSec=300
JobTimeoutAction=poweroff-force
EOT
	# Type=simple: the scripts start and stop units themselves; no start timeout applies
	# (each script has its own, enforced by the runner).
	cat >"$vm_systemd_etc/vbus-vm-scripts.service" <<EOT
[Unit]
Description=vbus VM test scripts (tests/vm/run --systemd)
After=basic.target dbus.socket systemd-udevd.service systemd-journald.service
Wants=dbus.socket systemd-udevd.service

[Service]
Type=simple
ExecStart=/bin/bash $lib/systemd-scripts.sh
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Environment=HOME=/root LANG=C.UTF-8 TERM=linux
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
EOT
	# A boot that goes wrong must not wait for a login on the console until run's timeout: the
	# emergency shell is replaced by a journal dump and a power off (run then reports the
	# scripts that never finished as "none"), and a stuck boot powers off after 5 minutes.
	cat >"$vm_systemd_etc/emergency.service" <<EOT
[Unit]
Description=vbus VM: emergency, journal to $out/journal.log and power off
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "vbus-vm: systemd entered emergency mode, see $out/journal.log" >/dev/console; systemctl --no-pager --failed >/dev/console; journalctl -b --no-pager -o short-monotonic >$out/journal.log 2>&1; sync; echo o >/proc/sysrq-trigger'
EOT
	ln -sfn vbus-vm.target "$vm_systemd_etc/default.target"
	# Generators that only cost time here (they scan for disks, init scripts, ...).
	mkdir -p /etc/systemd/system-generators
	perl -e '$d = shift; for (@ARGV) { unlink "$d/$_"; symlink "/dev/null", "$d/$_" or die "$_: $!" }' \
		/etc/systemd/system-generators "${vm_systemd_masked_generators[@]}"
	# tmpfiles' tmp.conf empties /tmp at boot; /tmp holds the bound host paths (the results
	# share among them): nothing there is systemd-tmpfiles' business.
	mkdir -p /etc/tmpfiles.d
	ln -sfn /dev/null /etc/tmpfiles.d/tmp.conf

	read -r up _ </proc/uptime
	echo "exec-systemd $up" >>/run/vbus-out/timings
	echo "init: exec $sd (--systemd)" >/dev/console
	exec "$sd" --unit=vbus-vm.target --show-status=error
}

vm_systemd_boot "${0%/*}" || exit 1
