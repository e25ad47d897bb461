#!/bin/sh
# Installs every build and test dependency of vbus on a fresh Debian 12 (bookworm).
set -eu

export DEBIAN_FRONTEND=noninteractive

pkgs="
	build-essential meson ninja-build pkg-config git
	libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libsystemd-dev libudev-dev libjson-c-dev
	uuid-dev
	scdoc man-db groff-base bash-completion dkms openssl
	linux-image-amd64 linux-headers-amd64 linux-source-6.1 xz-utils bc kmod
	qemu-system-x86 busybox-static cpio
	iproute2 udev dbus dbus-daemon systemd
	procps pciutils nvme-cli
	mdevctl driverctl valgrind strace
	libvirt-daemon libvirt-clients
	libglib2.0-bin
	python3 python3-yaml python3-jsonschema sparse
	clang libclang-rt-14-dev python3-dbusmock
	podman crun
	libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
	libcurl4-openssl-dev libssl-dev libyaml-dev python3-grpcio python3-grpc-tools
"

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -q -y --no-install-recommends $pkgs
