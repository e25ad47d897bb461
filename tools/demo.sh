#!/bin/bash
# The main job: build vbus and its kernel modules, boot Debian's kernel in qemu and let vbusctl
# create, list, rebind and remove an mdev, a VF, an SF, a vDPA device and a virtbus device.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-demo}

[ -f "$build/build.ninja" ] || meson setup "$build" "$src" -Dkmod=true -Dvm-tests=enabled
meson compile -C "$build"
exec "$src/tests/vm/run" --build "$build" --kmod-dir "$build/kmod" --nvme-sriov -v \
	--out "$build/demo-out" "$src/tests/vm/demo.sh"
