#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/ (checked in; run again
after a schema change). The netlink seeds are replies as the kernel sends them (attribute
numbers from linux/vdpa.h, linux/devlink.h and kmod/uapi/linux/vbus.h)."""
import json
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data")
out = os.path.join(here, "corpus")


def put(target, name, content):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


# ---- definitions: every checked-in definition, plus edge shapes --------------------------------
defs = []
for top, _, files in os.walk(data):
    for f in sorted(files):
        if f.endswith(".json") and "devices.d" in top:
            defs.append(open(os.path.join(top, f), "rb").read())
defs += [
    b'{ "version": 1, "name": "a", "kind": "vf", "parent": "0000:03:00.0", "index": 3, '
    b'"attrs": [ { "mac": "52:54:00:00:00:01" } ], "extra": { "k": [ 1, null ] } }',
    b'{ "version": 1, "name": "s1", "kind": "sf", "parent": "pci/0000:06:00.0", "index": 88, '
    b'"attrs": [ { "hw_addr": "00:11:22:33:44:55" } ], "driver": "host", "start": "manual" }',
    b'{ "version": 1, "name": "v1", "kind": "vdpa", "parent": "vdpasim_net", "type": "net", '
    b'"attrs": [ { "mac": "00:11:22:33:44:55" }, { "mtu": "1500" }, { "max_vqp": "2" } ] }',
    b'{ "version": 1, "name": "vb", "kind": "virtbus", "parent": "vbus_sim/vbus_sim1", '
    b'"type": "net", "driver": "vbus_sim_net", "tags": [ "a", "b" ] }',
    b'{ "version": 2, "name": "x" }',
    b'{ "version": 1, "name": "../etc", "kind": "pci", "parent": "0000:05:00.0" }',
    b'{ "version": 1, "name": "n", "kind": "mdev", "parent": "mtty", "index": 9223372036854775807 }',
    b'[]',
]
for i, d in enumerate(defs):
    put("def-json", f"seed-{i:02d}", d)
    put("store", f"seed-{i:02d}", d)

# ---- policy ----------------------------------------------------------------------------------
pols = []
for top, _, files in os.walk(data):
    for f in sorted(files):
        if f.endswith(".json") and "policy.d" in top:
            pols.append(open(os.path.join(top, f), "rb").read())
pols += [
    json.dumps({"version": 1, "rules": [
        {"match": {"kind": ["vf", "pci"], "name": "vm1-*", "parent": "0000:03:*",
                   "type": "i915-*", "vendor": "0x8086", "device": "0x1572",
                   "class": "0x02*", "tags": ["vm"]}, "driver": "vfio-pci"},
        {"driver": "none"}],
        "profiles": {"vm": {"driver": "vfio", "prefer": [
            {"match": {"class": "0x02*"}, "kinds": ["sf", "vf"], "driver": "vfio"}]},
            "storage": {"driver": "host", "prefer": [{"kinds": ["vdpa"]}]}}}).encode(),
    b'{ "version": 1, "rules": [ { "match": { "kind": "mdev" }, "driver": "vfio" } ] }',
]
for i, p in enumerate(pols):
    put("policy", f"seed-{i:02d}", p)

# ---- import: source byte, then "PATH\nCONTENT" records separated by NUL -----------------------
recs = {0: [], 1: []}
for top, _, files in os.walk(data):
    for f in sorted(files):
        full = os.path.join(top, f)
        if "/mdevctl.d/" in full:
            parent = os.path.basename(top)
            recs[0].append(f"{parent}/{f}\n".encode() + open(full, "rb").read())
        elif "/driverctl.d/" in full:
            recs[1].append(f"{f}\n".encode() + open(full, "rb").read())
for src in (0, 1):
    for i, r in enumerate(recs[src]):
        put("import", f"seed-{src}-{i:02d}", bytes([src]) + r)
    put("import", f"seed-{src}-all", bytes([src]) + b"\0".join(recs[src]))

# ---- a{sv} programs (see fuzz-bus-def.c): dict(n), then entries (key byte, value op ...) ----
def s(text):
    b = text.encode()
    return bytes([len(b)]) + b

KEYS = {"version": 0, "name": 1, "kind": 2, "parent": 3, "type": 4, "uuid": 5, "index": 6,
        "driver": 7, "start": 8, "attrs": 9, "tags": 10, "extra": 11}

def entry_s(key, text):
    return bytes([KEYS[key], 0]) + s(text)

put("bus-def", "seed-mdev", bytes([5]) + entry_s("name", "vm1") + entry_s("kind", "mdev") +
    entry_s("parent", "mtty") + entry_s("type", "mtty-2") + entry_s("driver", "vfio"))
put("bus-def", "seed-vf", bytes([5]) + entry_s("name", "vf3") + entry_s("kind", "vf") +
    entry_s("parent", "0000:03:00.0") + bytes([KEYS["index"], 4]) + struct.pack(">q", 3) +
    bytes([KEYS["tags"], 10, 2]) + s("vm") + s("nic"))
put("bus-def", "seed-attrs", bytes([5]) + entry_s("name", "v1") + entry_s("kind", "vdpa") +
    entry_s("parent", "vdpasim_net") +
    bytes([KEYS["attrs"], 12, 2, 11, 1, 0xc0]) + s("mac") + bytes([0]) + s("00:11:22:33:44:55") +
    bytes([11, 1, 0xc0]) + s("mtu") + bytes([0]) + s("1500") +
    entry_s("start", "manual"))
put("bus-def", "seed-null", bytes([3]) + entry_s("name", "p1") + entry_s("kind", "pci") +
    bytes([KEYS["type"], 12, 0]))

# ---- netlink replies: genlmsghdr (cmd, version, 0) + attributes -------------------------------
def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)

def astr(t, text):
    return attr(t, text.encode() + b"\0")

def u8(t, v): return attr(t, struct.pack("<B", v))
def u16(t, v): return attr(t, struct.pack("<H", v))
def u32(t, v): return attr(t, struct.pack("<I", v))
def u64(t, v): return attr(t, struct.pack("<Q", v))
def genl(cmd, *attrs, version=1): return struct.pack("<BBH", cmd, version, 0) + b"".join(attrs)

vdpa_mgmt = genl(1, astr(2, "vdpasim_net"), u64(3, 1 << 1), u32(15, 3))
vdpa_mgmt_pci = genl(1, astr(1, "pci"), astr(2, "0000:06:00.0"), u64(3, (1 << 1) | (1 << 2)))
vdpa_dev = genl(3, astr(4, "vdpa0"), astr(2, "vdpasim_net"), u32(5, 1), u32(6, 0),
                u32(7, 3), u16(8, 256))
for which, msg, name in [(0, vdpa_mgmt, "mgmtdev"), (1, vdpa_mgmt, "types"),
                         (0, vdpa_mgmt_pci, "mgmtdev-pci"), (2, vdpa_dev, "dev")]:
    put("netlink-vdpa", f"seed-{name}", bytes([which]) + msg)

fn = attr(145, attr(1, bytes([0, 0x11, 0x22, 0x33, 0x44, 0x55])) + u8(2, 1) + u8(3, 1))
sf_port = genl(7, astr(1, "pci"), astr(2, "0000:06:00.0"), u32(3, 32768), u16(77, 7),
               u16(127, 0), u32(164, 88), u32(150, 0), fn, astr(7, "eth0"))
phys_port = genl(7, astr(1, "vbus_sim"), astr(2, "vbus_sim1"), u32(3, 0), u16(77, 0))
dl_inst = genl(3, astr(1, "pci"), astr(2, "0000:06:00.0"))
for which, msg, name in [(0, sf_port, "port-sf"), (0, phys_port, "port-phys"),
                         (1, dl_inst, "instance"), (2, sf_port, "port-reply")]:
    put("netlink-sf", f"seed-{name}", bytes([which]) + msg)

vtype = lambda n, mx, cur: attr(3 | 0x8000, astr(1, n) + u32(2, mx) + u32(3, cur))
vb_mgmt = genl(1, astr(1, "vbus_sim"), astr(2, "vbus_sim1"), vtype("net", 4, 1),
               vtype("blk", 2, 0))
vb_dev = genl(4, astr(1, "vbus_sim"), astr(2, "vbus_sim1"), astr(4, "vb0"), astr(5, "net"),
              astr(6, "vbus_sim_net"), astr(7, "vbus_sim_net"), astr(9, "vbus_sim1.vb0"))
vb_unbound = genl(4, astr(1, "vbus_sim"), astr(2, "vbus_sim1"), astr(4, "vb1"),
                  astr(5, "blk"), attr(8, b""), astr(9, "vbus_sim1.vb1"))
for which, msg, name in [(0, vb_mgmt, "mgmtdev"), (1, vb_mgmt, "types"), (2, vb_dev, "dev"),
                         (3, vb_unbound, "get-unbound")]:
    put("netlink-virtbus", f"seed-{name}", bytes([which]) + msg)
print("seeds written to", out)
