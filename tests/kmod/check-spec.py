#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kmod/vbus.yaml against the kernel's genetlink-legacy schema, and against the uapi header.

   check-spec.py SPEC UAPI_HEADER      (TAP output)

1. The schema: Documentation/netlink/genetlink-legacy.yaml of Linux (6.6 and later; 6.1 has
   none). Its rules are written out below as a JSON schema (draft 7, the one it declares) for
   the keys a genetlink-legacy spec may use, and checked with python3-jsonschema.
2. What ynl (tools/net/ynl/lib/nlspec.py) checks beyond the schema: names that refer to other
   parts (attribute sets, nested sets, attributes of requests, replies and events, notify
   targets, multicast groups) exist; enum values are unique.
3. The header: every command, attribute and constant of the spec has the C name and value ynl
   would generate, and the header has no entry the spec lacks.
"""
import re
import sys

import jsonschema
import yaml

n = 0
failed = 0


def ok(cond, what, diag=""):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")
    if not cond:
        failed += 1
        for line in str(diag).splitlines()[:30]:
            print("#   " + line)


# ---- 1. the published schema's rules ---------------------------------------------------------
UINT = {"type": "integer", "minimum": 0}
LEN_OR_DEFINE = {"type": ["string", "integer"], "pattern": r"^[0-9A-Za-z_]+( - 1)?$", "minimum": 0}
LEN_OR_LIMIT = {"type": ["string", "integer"], "pattern": r"^[su](8|16|32|64)-(min|max)$",
                "minimum": 0}
ATTR_TYPES = ["unused", "pad", "flag", "binary", "bitfield32", "uint", "sint", "u8", "u16",
              "u32", "u64", "s32", "s64", "string", "nest", "array-nest", "nest-type-value"]
DISPLAY_HINT = {"enum": ["hex", "mac", "fddi", "ipv4", "ipv6", "uuid"]}
STR = {"type": "string"}


def obj(props, required=()):
    return {"type": "object", "additionalProperties": False, "required": list(required),
            "properties": props}


ATTR_LIST = obj({"attributes": {"type": "array", "items": STR}, "value": UINT})
SUBOP = obj({"request": ATTR_LIST, "reply": ATTR_LIST, "pre": STR, "post": STR})
CMD_FLAGS = {"type": "array", "items": {"enum": ["admin-perm", "uns-admin-perm"]}}

SCHEMA = obj({
    "name": STR, "doc": STR,
    "protocol": {"enum": ["genetlink", "genetlink-c", "genetlink-legacy"]},
    "uapi-header": STR, "c-family-name": STR, "c-version-name": STR,
    "max-by-define": {"type": "boolean"},
    "kernel-policy": {"enum": ["split", "per-op", "global"]},
    "version": {"type": "integer", "minimum": 1},
    "definitions": {"type": "array", "items": obj({
        "name": STR, "header": STR, "type": {"enum": ["const", "enum", "flags", "struct"]},
        "doc": STR, "value": {"type": ["string", "integer"]},
        "value-start": {"type": ["string", "integer"]},
        "entries": {"type": "array", "items": {"oneOf": [
            STR, obj({"name": STR, "value": {"type": "integer"}, "doc": STR}, ["name"])]}},
        "render-max": {"type": "boolean"}, "enum-name": {"type": ["string", "null"]},
        "name-prefix": STR,
        "members": {"type": "array", "items": obj({
            "name": STR,
            "type": {"enum": ["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
                              "string", "binary"]},
            "len": LEN_OR_DEFINE, "byte-order": {"enum": ["little-endian", "big-endian"]},
            "doc": STR, "enum": STR, "display-hint": DISPLAY_HINT}, ["name", "type"])},
    }, ["type", "name"])},
    "attribute-sets": {"type": "array", "items": {
        **obj({
            "name": STR, "name-prefix": STR, "enum-name": STR, "doc": STR, "subset-of": STR,
            "attr-cnt-name": STR, "attr-max-name": STR,
            "attributes": {"type": "array", "items": obj({
                "name": STR, "type": {"enum": ATTR_TYPES}, "doc": STR, "value": UINT,
                "type-value": {"type": "array", "items": STR},
                "byte-order": {"enum": ["little-endian", "big-endian"]},
                "multi-attr": {"type": "boolean"}, "nested-attributes": STR, "enum": STR,
                "enum-as-flags": {"type": "boolean"},
                "checks": obj({"flags-mask": STR, "min": LEN_OR_LIMIT, "max": LEN_OR_LIMIT,
                               "min-len": LEN_OR_DEFINE, "max-len": LEN_OR_DEFINE,
                               "exact-len": LEN_OR_DEFINE}),
                "sub-type": {"enum": ATTR_TYPES}, "display-hint": DISPLAY_HINT,
                "name-prefix": STR, "struct": STR}, ["name"])},
        }, ["name", "attributes"]),
        "dependencies": {"name-prefix": {"not": {"required": ["subset-of"]}},
                         "subset-of": {"not": {"required": ["name-prefix"]}}},
        "if": {"properties": {"subset-of": {"not": {"type": "string"}}}},
        "then": {"properties": {"attributes": {"items": {"required": ["type"]}}}},
    }},
    "operations": obj({
        "enum-model": {"enum": ["unified", "directional"]}, "name-prefix": STR,
        "enum-name": STR, "async-prefix": STR, "async-enum": STR, "fixed-header": STR,
        "list": {"type": "array", "items": obj({
            "name": STR, "doc": STR, "value": UINT, "attribute-set": STR, "flags": CMD_FLAGS,
            "dont-validate": {"type": "array",
                              "items": {"enum": ["strict", "dump", "dump-strict"]}},
            "fixed-header": STR, "do": SUBOP, "dump": SUBOP, "notify": STR,
            "event": obj({"attributes": {"type": "array", "items": STR}}), "mcgrp": STR,
        }, ["name", "doc"])},
    }, ["list"]),
    "mcast-groups": obj({"list": {"type": "array", "items": obj(
        {"name": STR, "c-define-name": STR, "flags": CMD_FLAGS}, ["name"])}}, ["list"]),
}, ["name", "doc", "attribute-sets", "operations"])
SCHEMA["$schema"] = "http://json-schema.org/draft-07/schema#"

spec_path, header_path = sys.argv[1], sys.argv[2]
spec = yaml.safe_load(open(spec_path))

jsonschema.Draft7Validator.check_schema(SCHEMA)
errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(spec), key=lambda e: list(e.path))
ok(not errors, f"{spec_path} is valid against the genetlink-legacy schema",
   "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors))

# A broken spec must fail: the schema error kmod/vbus.yaml once had (a reply object where
# event attributes are a list of names) and an unknown key.
bad = yaml.safe_load(open(spec_path))
bad["operations"]["list"][-1]["event"] = {"attributes": {"attributes": ["dev-name"]}}
ok(any(True for _ in jsonschema.Draft7Validator(SCHEMA).iter_errors(bad)),
   "the schema check rejects 'event: attributes: *reply-anchor' (an object, not a list)")
bad = yaml.safe_load(open(spec_path))
bad["operations"]["list"][1]["notfy"] = "x"
ok(any(True for _ in jsonschema.Draft7Validator(SCHEMA).iter_errors(bad)),
   "the schema check rejects an unknown key in an operation")

# ---- 2. references ---------------------------------------------------------------------------
sets = {s["name"]: s for s in spec["attribute-sets"]}
ops = spec["operations"]["list"]
op_names = {o["name"] for o in ops}
groups = {g["name"] for g in spec.get("mcast-groups", {}).get("list", [])}
problems = []
for s in spec["attribute-sets"]:
    for a in s["attributes"]:
        if "nested-attributes" in a and a["nested-attributes"] not in sets:
            problems.append(f"{s['name']}.{a['name']}: no attribute set {a['nested-attributes']}")
for o in ops:
    aset = sets.get(o.get("attribute-set", ""), None)
    names = {a["name"] for a in aset["attributes"]} if aset else set()
    lists = []
    for mode in ("do", "dump"):
        for part in ("request", "reply"):
            lst = o.get(mode, {}).get(part, {}).get("attributes")
            if lst is not None:
                lists.append((f"{mode} {part}", lst))
    if "event" in o:
        lists.append(("event", o["event"].get("attributes", [])))
    if lists and not aset:
        problems.append(f"{o['name']}: attribute-set {o.get('attribute-set')} not found")
    for where, lst in lists:
        for a in lst:
            if a not in names:
                problems.append(f"{o['name']} {where}: attribute {a} is not in its set")
    if "notify" in o:
        tgt = next((t for t in ops if t["name"] == o["notify"]), None)
        if not tgt or not any("reply" in tgt.get(m, {}) for m in ("do", "dump")):
            problems.append(f"{o['name']}: notify {o['notify']} has no reply to share")
    if "mcgrp" in o and o["mcgrp"] not in groups:
        problems.append(f"{o['name']}: no multicast group {o['mcgrp']}")
    if ("notify" in o or "event" in o) and ("do" in o or "dump" in o):
        problems.append(f"{o['name']}: a notification has no do/dump of its own")
ok(not problems, "every name the spec refers to exists", "\n".join(problems))


def values(items):
    """(name, value) of a list of enum entries, counting from explicit values."""
    out, v = [], 0
    for it in items:
        v = it.get("value", v)
        out.append((it["name"], v))
        v += 1
    return out


dups = []
for what, items in [("operations", ops)] + [(s["name"], s["attributes"])
                                            for s in spec["attribute-sets"]]:
    vals = [v for _, v in values(items)]
    if len(vals) != len(set(vals)):
        dups.append(f"{what}: {vals}")
ok(not dups, "values are unique in each enum", "\n".join(dups))
ntf = [o["name"] for o in ops if "notify" in o or "event" in o]
reused = [o["name"] for o in ops if ("notify" in o or "event" in o) and o.get("value") is not None
          and any(p.get("value") == o["value"] for p in ops if p is not o)]
ok(ntf and all(x.endswith("-ntf") for x in ntf) and not reused,
   "notifications are *-ntf commands with ids of their own", f"{ntf} {reused}")

# ---- 3. the header ---------------------------------------------------------------------------
text = open(header_path).read()
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
defines = {}
for m in re.finditer(r"^#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*$", text, flags=re.M):
    v = m.group(2)
    defines[m.group(1)] = v[1:-1] if v.startswith('"') else (int(v) if v.isdigit() else v)
enums = {}
for m in re.finditer(r"enum\s+(\w+)\s*\{(.*?)\};", text, flags=re.S):
    entries, v = [], 0
    for item in [x.strip() for x in m.group(2).split(",") if x.strip()]:
        name, _, expr = (p.strip() for p in item.partition("="))
        if expr:
            prev = dict(entries)
            v = eval(expr, {}, prev)  # only integers and names of earlier entries
        entries.append((name, v))
        v += 1
    enums[m.group(1)] = entries


def cname(s):
    return s.upper().replace("-", "_")


want = {cname(spec["c-family-name"]): spec["name"],
        cname(spec["c-version-name"]): spec.get("version", 1)}
for d in spec.get("definitions", []):
    if d["type"] == "const":
        want[cname(spec["name"] + "-" + d["name"])] = d["value"]
for g in spec.get("mcast-groups", {}).get("list", []):
    want[cname(g.get("c-define-name", spec["name"] + "-mcgrp-" + g["name"]))] = g["name"]
diff = [f"{k}: spec {v!r}, header {defines.get(k)!r}" for k, v in want.items()
        if defines.get(k) != v]
ok(not diff, f"every constant of the spec is #defined in {header_path} with its value",
   "\n".join(diff))


def enum_check(what, items, prefix):
    exp = [(cname(prefix + n), v) for n, v in values(items)]
    names = {n for n, _ in exp}
    cands = [e for e in enums.values() if names & {n for n, _ in e}]
    got = [x for x in (cands[0] if cands else []) if not x[0].startswith("__")
           and not x[0].endswith("_MAX")]
    ok(got == exp, f"{what}: the header's enum equals the spec (names and values)",
       f"spec:   {exp}\nheader: {got}")


enum_check("operations", ops, spec["operations"]["name-prefix"])
for s in spec["attribute-sets"]:
    enum_check(f"attribute set {s['name']}", s["attributes"], s["name-prefix"])
listed = {n for s in spec["attribute-sets"] for n, _ in
          [(cname(s["name-prefix"] + a["name"]), 0) for a in s["attributes"]]}
listed |= {cname(spec["operations"]["name-prefix"] + o["name"]) for o in ops}
extra = [n for e in enums.values() for n, _ in e
         if not n.startswith("__") and not n.endswith("_MAX") and n not in listed]
ok(not extra, "the header has no command or attribute the spec lacks", "\n".join(extra))

print(f"1..{n}")
sys.exit(1 if failed else 0)
