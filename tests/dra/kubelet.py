# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in kubelet for vbus-dra's tests: the plugin watcher's registration and the DRA
manager's calls, over the real unix sockets, with python3-grpcio.

The message classes come from the repository's .proto files (dra/proto/*.proto), compiled at
test time with `python3 -m grpc_tools.protoc` into a scratch directory. Before they are used,
they are compared with the published definitions (UPSTREAM below, transcribed from kubernetes'
staging/src/k8s.io/kubelet/pkg/apis/dra/v1/api.proto and pluginregistration/v1/api.proto):
package, service and message names, every field's number, type and label, every method's
request and response types. A wrong field number is a wrong wire format: it fails the check.

The calls use the method paths kubelet uses ("/<package>.<Service>/<Method>"), built from the
upstream names, not from the repository's files, so a service renamed in the .proto fails the
call as it would with a real kubelet.
"""
import glob
import importlib
import os
import stat
import subprocess
import sys

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor as FD

REG_PKG = "pluginregistration"
DRA_PKG = "k8s.io.kubelet.pkg.apis.dra.v1"

# What kubelet's DRA manager accepts in PluginInfo.supported_versions for the v1 API
# ("<gRPC package name>.<service name>", the package's last component), and the type.
DRA_PLUGIN_TYPE = "DRAPlugin"
DRA_V1_SERVICE = "v1.DRAPlugin"

S, B, M = FD.TYPE_STRING, FD.TYPE_BOOL, FD.TYPE_MESSAGE
OPT, REP = FD.LABEL_OPTIONAL, FD.LABEL_REPEATED

# message -> {field: (number, type, label, message type or None)}; map<K,V> fields are repeated
# messages of the generated entry type <Field>Entry {key = 1; value = 2}.
UPSTREAM = {
    f"{REG_PKG}.PluginInfo": {
        "type": (1, S, OPT, None),
        "name": (2, S, OPT, None),
        "endpoint": (3, S, OPT, None),
        "supported_versions": (4, S, REP, None),
    },
    f"{REG_PKG}.RegistrationStatus": {
        "plugin_registered": (1, B, OPT, None),
        "error": (2, S, OPT, None),
    },
    f"{REG_PKG}.RegistrationStatusResponse": {},
    f"{REG_PKG}.InfoRequest": {},
    f"{DRA_PKG}.NodePrepareResourcesRequest": {
        "claims": (1, M, REP, f"{DRA_PKG}.Claim"),
    },
    f"{DRA_PKG}.NodePrepareResourcesResponse": {
        "claims": (1, M, REP, f"{DRA_PKG}.NodePrepareResourcesResponse.ClaimsEntry"),
    },
    f"{DRA_PKG}.NodePrepareResourcesResponse.ClaimsEntry": {
        "key": (1, S, OPT, None),
        "value": (2, M, OPT, f"{DRA_PKG}.NodePrepareResourceResponse"),
    },
    f"{DRA_PKG}.NodePrepareResourceResponse": {
        "devices": (1, M, REP, f"{DRA_PKG}.Device"),
        "error": (2, S, OPT, None),
    },
    f"{DRA_PKG}.Device": {
        "request_names": (1, S, REP, None),
        "pool_name": (2, S, OPT, None),
        "device_name": (3, S, OPT, None),
        "cdi_device_ids": (4, S, REP, None),
    },
    f"{DRA_PKG}.NodeUnprepareResourcesRequest": {
        "claims": (1, M, REP, f"{DRA_PKG}.Claim"),
    },
    f"{DRA_PKG}.NodeUnprepareResourcesResponse": {
        "claims": (1, M, REP, f"{DRA_PKG}.NodeUnprepareResourcesResponse.ClaimsEntry"),
    },
    f"{DRA_PKG}.NodeUnprepareResourcesResponse.ClaimsEntry": {
        "key": (1, S, OPT, None),
        "value": (2, M, OPT, f"{DRA_PKG}.NodeUnprepareResourceResponse"),
    },
    f"{DRA_PKG}.NodeUnprepareResourceResponse": {
        "error": (1, S, OPT, None),
    },
    f"{DRA_PKG}.Claim": {
        "namespace": (1, S, OPT, None),
        "uid": (2, S, OPT, None),
        "name": (3, S, OPT, None),
    },
}
MAP_ENTRIES = {f"{DRA_PKG}.NodePrepareResourcesResponse.ClaimsEntry",
               f"{DRA_PKG}.NodeUnprepareResourcesResponse.ClaimsEntry"}

# service -> {method: (request, response)}
SERVICES = {
    f"{REG_PKG}.Registration": {
        "GetInfo": (f"{REG_PKG}.InfoRequest", f"{REG_PKG}.PluginInfo"),
        "NotifyRegistrationStatus": (f"{REG_PKG}.RegistrationStatus",
                                     f"{REG_PKG}.RegistrationStatusResponse"),
    },
    f"{DRA_PKG}.DRAPlugin": {
        "NodePrepareResources": (f"{DRA_PKG}.NodePrepareResourcesRequest",
                                 f"{DRA_PKG}.NodePrepareResourcesResponse"),
        "NodeUnprepareResources": (f"{DRA_PKG}.NodeUnprepareResourcesRequest",
                                   f"{DRA_PKG}.NodeUnprepareResourcesResponse"),
    },
}

TYPE_NAMES = {v: k for k, v in vars(FD).items() if k.startswith("TYPE_")}


class ProtoError(Exception):
    pass


def _protos(proto_dir):
    protos = sorted(os.path.relpath(p, proto_dir)
                    for p in glob.glob(os.path.join(proto_dir, "**", "*.proto"), recursive=True))
    if not protos:
        raise ProtoError(f"no .proto file under {proto_dir}")
    return protos


def protoc(proto_dir, out_dir, python=sys.executable):
    """Compiles every .proto under PROTO_DIR (import paths relative to it) into OUT_DIR."""
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    r = subprocess.run([python, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
                        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"] +
                       _protos(proto_dir), capture_output=True, text=True, cwd=proto_dir)
    if r.returncode != 0:
        raise ProtoError(f"grpc_tools.protoc failed: {r.stderr.strip()}")


def import_protos(proto_dir, out_dir):
    """Imports the modules protoc() made (their messages land in the default descriptor
    pool)."""
    sys.path.insert(0, out_dir)
    for p in _protos(proto_dir):
        importlib.import_module(p[:-len(".proto")].replace(os.sep, ".") + "_pb2")


def compile_protos(proto_dir, out_dir, python=sys.executable):
    protoc(proto_dir, out_dir, python)
    import_protos(proto_dir, out_dir)


def check_protos(pool=None):
    """The differences between the compiled definitions and UPSTREAM (empty: identical)."""
    pool = pool or descriptor_pool.Default()
    errs = []
    for msg, fields in UPSTREAM.items():
        try:
            d = pool.FindMessageTypeByName(msg)
        except KeyError:
            errs.append(f"message {msg} is missing")
            continue
        if (msg in MAP_ENTRIES) != bool(d.GetOptions().map_entry):
            errs.append(f"{msg}: map entry {'expected' if msg in MAP_ENTRIES else 'unexpected'}")
        got = {f.name: f for f in d.fields}
        for name in sorted(set(got) - set(fields)):
            errs.append(f"{msg}: field {name} = {got[name].number} is not upstream")
        for name, (num, typ, label, tname) in fields.items():
            f = got.get(name)
            if f is None:
                errs.append(f"{msg}: field {name} is missing (upstream: {name} = {num})")
                continue
            if f.number != num:
                errs.append(f"{msg}.{name}: field number {f.number}, upstream {num}")
            if f.type != typ:
                errs.append(f"{msg}.{name}: type {TYPE_NAMES.get(f.type)}, upstream "
                            f"{TYPE_NAMES.get(typ)}")
            if f.label != label:
                errs.append(f"{msg}.{name}: {'repeated' if f.label == REP else 'singular'}, "
                            f"upstream {'repeated' if label == REP else 'singular'}")
            if tname and (f.message_type is None or f.message_type.full_name != tname):
                errs.append(f"{msg}.{name}: message type "
                            f"{f.message_type.full_name if f.message_type else None}, "
                            f"upstream {tname}")
    for svc, methods in SERVICES.items():
        try:
            s = pool.FindServiceByName(svc)
        except KeyError:
            errs.append(f"service {svc} is missing")
            continue
        got = {m.name: m for m in s.methods}
        for name in sorted(set(got) - set(methods)):
            errs.append(f"{svc}: method {name} is not upstream")
        for name, (req, resp) in methods.items():
            m = got.get(name)
            if m is None:
                errs.append(f"{svc}: method {name} is missing")
                continue
            if m.input_type.full_name != req or m.output_type.full_name != resp:
                errs.append(f"{svc}.{name}: ({m.input_type.full_name}) returns "
                            f"({m.output_type.full_name}), upstream ({req}) returns ({resp})")
            if m.client_streaming or m.server_streaming:
                errs.append(f"{svc}.{name}: streaming, upstream unary")
    return errs


def message_class(full_name):
    d = descriptor_pool.Default().FindMessageTypeByName(full_name)
    try:
        from google.protobuf import message_factory
        return message_factory.GetMessageClass(d)
    except AttributeError:  # protobuf < 4
        from google.protobuf import message_factory
        return message_factory.MessageFactory().GetPrototype(d)


def _call(target, service, method, request, timeout):
    req_t, resp_t = SERVICES[service][method]
    resp_cls = message_class(resp_t)
    with grpc.insecure_channel(target) as ch:
        fn = ch.unary_unary(f"/{service}/{method}",
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_cls.FromString)
        return fn(request, timeout=timeout)


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


class Kubelet:
    """The stand-in. Call compile_protos() and check_protos() first."""

    def __init__(self, timeout=20):
        self.timeout = timeout
        self.endpoint = None
        self.driver = None
        self.info = None

    def get_info(self, reg_socket):
        req = message_class(f"{REG_PKG}.InfoRequest")()
        return _call(f"unix:{reg_socket}", f"{REG_PKG}.Registration", "GetInfo", req,
                     self.timeout)

    def notify(self, reg_socket, registered, error=""):
        req = message_class(f"{REG_PKG}.RegistrationStatus")(plugin_registered=registered,
                                                                error=error)
        return _call(f"unix:{reg_socket}", f"{REG_PKG}.Registration",
                     "NotifyRegistrationStatus", req, self.timeout)

    def register(self, registry_dir, driver):
        """What the plugin watcher and the DRA handler do with a socket in the registry dir:
        GetInfo, validate (type, name, a supported service, the endpoint), then
        NotifyRegistrationStatus. Returns (info, reasons it was refused)."""
        sock = os.path.join(registry_dir, f"{driver}-reg.sock")
        if not is_socket(sock):
            return None, [f"no socket {sock} (registry dir has: "
                          f"{sorted(os.listdir(registry_dir))})"]
        info = self.get_info(sock)
        errs = []
        if info.type != DRA_PLUGIN_TYPE:
            errs.append(f"type {info.type!r}, kubelet knows {DRA_PLUGIN_TYPE!r}")
        if info.name != driver:
            errs.append(f"name {info.name!r}, the driver is {driver!r}")
        if DRA_V1_SERVICE not in info.supported_versions:
            errs.append(f"supported_versions {list(info.supported_versions)} lack "
                        f"{DRA_V1_SERVICE!r}")
        if not info.endpoint or not os.path.isabs(info.endpoint):
            errs.append(f"endpoint {info.endpoint!r} is not an absolute path")
        elif not is_socket(info.endpoint):
            errs.append(f"endpoint {info.endpoint} is not a socket")
        self.notify(sock, not errs, "; ".join(errs))
        if not errs:
            self.endpoint, self.driver, self.info = info.endpoint, driver, info
        return info, errs

    def _claims(self, claims):
        Claim = message_class(f"{DRA_PKG}.Claim")
        return [Claim(namespace=ns, uid=uid, name=name) for ns, uid, name in claims]

    def prepare(self, claims):
        """CLAIMS: [(namespace, uid, name)]. Returns {uid: {"error": str, "devices":
        [{"requests", "pool", "device", "cdi"}]}}."""
        req = message_class(f"{DRA_PKG}.NodePrepareResourcesRequest")(
            claims=self._claims(claims))
        resp = _call(f"unix:{self.endpoint}", f"{DRA_PKG}.DRAPlugin", "NodePrepareResources",
                     req, self.timeout)
        return {uid: {"error": r.error,
                      "devices": [{"requests": list(d.request_names), "pool": d.pool_name,
                                   "device": d.device_name, "cdi": list(d.cdi_device_ids)}
                                  for d in r.devices]}
                for uid, r in resp.claims.items()}

    def unprepare(self, claims):
        """Returns {uid: error string}."""
        req = message_class(f"{DRA_PKG}.NodeUnprepareResourcesRequest")(
            claims=self._claims(claims))
        resp = _call(f"unix:{self.endpoint}", f"{DRA_PKG}.DRAPlugin",
                     "NodeUnprepareResources", req, self.timeout)
        return {uid: r.error for uid, r in resp.claims.items()}


if __name__ == "__main__":
    # kubelet.py PROTO_DIR OUT_DIR: the stubs only (meson makes them for the VM suite, where
    # grpc_tools under qemu TCG takes most of a minute).
    protoc(sys.argv[1], sys.argv[2])
