#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs vbus-dra on a real Kubernetes cluster: kind (Kubernetes >= 1.34, where resource.k8s.io/v1
# and DRA are on by default). NOT RUN in vbus's CI or on its developers' machine (Debian 12 has
# no kind, kubelet or kube-apiserver; tests/dra/ uses stand-ins that speak the same protocols).
#
# The kind node is a container without vbus hardware, so vbusd runs in it over a copy of the
# fake host tree tests/data/host-mixed (vbusd-fake-kernel, the integration tests' build, plays
# the kernel for mdev create/remove). vbus-dra runs as the DaemonSet of deploy/. The check: the
# node's ResourceSlice lists the vbus devices, a pod with a claim for mdev.vbus.dev runs, the
# device was started for it and is stopped again when the pod is deleted.
#
# Needs: docker, kind, kubectl, a vbus build with -Ddra=enabled in BUILD (default build-test).
# Usage: deploy/kind-test.sh [BUILD]
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-test}
cluster=vbus-dra-test
node=$cluster-control-plane
image=vbus-dra:dev

for p in docker kind kubectl; do
	command -v "$p" >/dev/null || { echo "kind-test.sh: $p is needed" >&2; exit 1; }
done
[ -x "$build/tests/integration/vbusd-fake-kernel" ] ||
	{ echo "kind-test.sh: no $build/tests/integration/vbusd-fake-kernel (build first)" >&2; exit 1; }

step() { echo "== $*"; }
fail() { echo "kind-test.sh: FAILED: $*" >&2; exit 1; }

step "cluster $cluster (kindest/node v1.34)"
kind get clusters | grep -qx "$cluster" ||
	kind create cluster --name "$cluster" --image kindest/node:v1.34.0 --wait 120s
kubectl config use-context "kind-$cluster"
trap '[ -n "${KEEP:-}" ] || kind delete cluster --name "$cluster"' EXIT

step "vbusd in the node over a fake host tree, on the node's system bus"
docker exec "$node" mkdir -p /opt/vbus /etc/dbus-1/system.d
docker cp "$build/tests/integration/vbusd-fake-kernel" "$node:/opt/vbus/vbusd"
docker cp "$src/units/org.vbus1.conf" "$node:/etc/dbus-1/system.d/org.vbus1.conf"
docker cp "$src/tests/data/host-mixed" "$node:/opt/vbus/root"
docker exec "$node" rm -f /opt/vbus/root/etc/vbus/devices.d/broken.json
# The libraries of the host's build (Debian 12's) next to it: the node image is Debian too.
for lib in $(ldd "$build/tests/integration/vbusd-fake-kernel" | awk '/=> \//{print $3}'); do
	docker cp -L "$lib" "$node:/opt/vbus/$(basename "$lib")"
done
docker exec "$node" systemctl reload dbus || docker exec "$node" dbus-send --system \
	--dest=org.freedesktop.DBus --type=method_call / org.freedesktop.DBus.ReloadConfig
docker exec -d "$node" env LD_LIBRARY_PATH=/opt/vbus /opt/vbus/vbusd --root /opt/vbus/root \
	--no-polkit
# vbus-dra reads the CDI specs below vbusd's root; in the node that root is /opt/vbus/root.
docker exec "$node" bash -c 'for i in $(seq 50); do busctl status org.vbus1 >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1' ||
	fail "vbusd did not come up in the node"
docker exec "$node" busctl call org.vbus1 /org/vbus1 org.vbus1.Manager Define 'a{sv}' 4 \
	name s serial-1 kind s mdev parent s mtty type s mtty-1 >/dev/null

step "image $image"
docker build -f "$src/deploy/Containerfile" -t "$image" "$src"
kind load docker-image "$image" --name "$cluster"

step "RBAC, DeviceClasses, DaemonSet"
kubectl label node "$node" vbus.dev/vbusd=true --overwrite
kubectl apply -f "$src/deploy/rbac.yaml"
kubectl apply -f "$src/deploy/deviceclasses.yaml"
kubectl apply -f "$src/deploy/daemonset.yaml"
kubectl -n vbus-dra rollout status daemonset/vbus-dra --timeout=180s

step "ResourceSlice of $node"
for _ in $(seq 60); do
	kubectl get resourceslices -o json | grep -q '"serial-1"' && break
	sleep 2
done
kubectl get resourceslices -o wide
kubectl get resourceslices -o json | grep -q '"serial-1"' || fail "no slice lists serial-1"

step "a pod with a claim of mdev.vbus.dev"
kubectl apply -f - <<'YAML'
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: one-mdev
spec:
  spec:
    devices:
      requests:
      - name: mdev
        exactly:
          deviceClassName: mdev.vbus.dev
          selectors:
          - cel:
              expression: device.attributes["vbus.dev"].name == "serial-1"
---
apiVersion: v1
kind: Pod
metadata:
  name: vbus-dra-test
spec:
  restartPolicy: Never
  resourceClaims:
  - name: mdev
    resourceClaimTemplateName: one-mdev
  containers:
  - name: c
    image: registry.k8s.io/pause:3.10
    resources:
      claims:
      - name: mdev
YAML
# In the fake tree no /dev/vfio node exists, so the CDI id (if any) may not resolve in the
# runtime: the check is that the plugin prepared the device, seen in vbusd.
for _ in $(seq 60); do
	docker exec "$node" vbusctl -j list --defined serial-1 2>/dev/null |
		grep -q '"active": true' && break
	sleep 2
done
kubectl get pod vbus-dra-test -o wide || true
kubectl -n vbus-dra logs daemonset/vbus-dra | tail -20
kubectl -n vbus-dra logs daemonset/vbus-dra | grep -q "Prepared ResourceClaim" ||
	fail "vbus-dra did not prepare the claim"

step "delete the pod: the claim is unprepared"
kubectl delete pod vbus-dra-test --wait=true --timeout=120s
for _ in $(seq 60); do
	kubectl -n vbus-dra logs daemonset/vbus-dra | grep -q "Unprepared ResourceClaim" && break
	sleep 2
done
kubectl -n vbus-dra logs daemonset/vbus-dra | grep -q "Unprepared ResourceClaim" ||
	fail "vbus-dra did not unprepare the claim"
echo "kind-test.sh: PASSED"
