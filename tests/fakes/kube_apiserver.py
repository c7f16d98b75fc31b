#!/usr/bin/python3
"""kube_apiserver.py - a Kubernetes API server stand-in for rollbackctl's tests.

No real API server installs on the test machines, so this one follows the real API closely enough
that an unmodified kubectl can discover, get and scale against it:

  * HTTPS only, with a server certificate signed by a CA the tests make (openssl CLI); clients
    authenticate with a bearer token (--token-auth-file, kube-apiserver's CSV format
    token,user,uid,"group1,group2", re-read on every request so tests can rotate tokens) or with a
    client certificate signed by the same CA (user = CN, groups = O).
  * The real paths and verbs: /api/v1 and /apis/<group>/<version>, namespaced and cluster-scoped,
    get/list/create/update/patch/delete/deletecollection, the scale subresource of Deployments and
    StatefulSets, SelfSubjectAccessReview, discovery (/api, /apis, /api/v1, /apis/g/v, /version).
  * Patch content types as kubectl and client-go send them: merge-patch, strategic-merge-patch
    (approximated: merge patch whose lists of named objects merge by name), json-patch.
  * resourceVersion on every object and list; a stale resourceVersion in an update or patch is a
    409 Conflict Status; pagination with limit/continue; label selectors; every error is a Status.
  * A tiny controller: a Deployment or StatefulSet owns spec.replicas pods, a Job owns one pod;
    deleting a Job with propagationPolicy Background/Foreground deletes its pods, Orphan (batch/v1
    default) keeps them.
  * RBAC: a rule set per user (--rbac-file or POST /_control/rbac), checked on every request and
    answered by SelfSubjectAccessReview.

Test knobs, on the same port without authentication (under /_control/):
  GET  /_control/state        every object, by resource, namespace and name
  GET  /_control/log          the request log (method, path, query, content type, user, status, body,
                              token_sha256: first 16 hex digits of the bearer token's SHA-256,
                              refused ones included; host: the Host header; sni: the TLS server
                              name the client sent, or null)
  DELETE /_control/log        clear it
  POST /_control/faults       {"faults":[{"count":N,"status":500|429|409|...,"retry_after":S,
                               "hang":SECONDS,"method":"PATCH","path":"substring","query":"substring"}]}
                               appended to
                               the queue: the next N matching API requests fail that way (hang:
                               sleep, then drop the connection without answering; with
                               "after": true the request is applied first, its answer lost)
  DELETE /_control/faults     clear the queue
  POST /_control/rbac         {"users":{"name":[{"verbs":[..],"apiGroups":[..],"resources":[..],
                               "namespaces":[..]}]}}; "*" matches anything
  POST /_control/objects      {"items":[...]} create or replace objects (seeding)
The same knobs can be given at start as a JSON state file (--state FILE: {"items":[..],
"rbac":{..},"faults":[..]}).

Standard library only; run with /usr/bin/python3.
"""

import argparse
import base64
import copy
import csv
import hashlib
import datetime
import io
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (group, version, plural) -> description. group "" is the core group under /api/v1.
RESOURCES = {
    ("", "v1", "namespaces"): dict(kind="Namespace", namespaced=False, short=["ns"]),
    ("", "v1", "pods"): dict(kind="Pod", namespaced=True, short=["po"]),
    ("", "v1", "configmaps"): dict(kind="ConfigMap", namespaced=True, short=["cm"]),
    ("", "v1", "services"): dict(kind="Service", namespaced=True, short=["svc"]),
    ("", "v1", "secrets"): dict(kind="Secret", namespaced=True, short=[]),
    ("apps", "v1", "deployments"): dict(kind="Deployment", namespaced=True, short=["deploy"],
                                        scale=True),
    ("apps", "v1", "statefulsets"): dict(kind="StatefulSet", namespaced=True, short=["sts"],
                                         scale=True),
    ("batch", "v1", "jobs"): dict(kind="Job", namespaced=True, short=[]),
    ("batch", "v1", "cronjobs"): dict(kind="CronJob", namespaced=True, short=["cj"]),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews"):
        dict(kind="SelfSubjectAccessReview", namespaced=False, short=[], create_only=True),
}
# Kinds deploy/ holds beyond those rollbackctl touches (test_deploy_manifests applies them with
# kubectl): stored and served like any other object, no behaviour of their own.
RESOURCES.update({
    ("", "v1", "serviceaccounts"): dict(kind="ServiceAccount", namespaced=True, short=["sa"]),
    ("", "v1", "persistentvolumeclaims"): dict(kind="PersistentVolumeClaim", namespaced=True,
                                               short=["pvc"]),
    ("rbac.authorization.k8s.io", "v1", "roles"): dict(kind="Role", namespaced=True, short=[]),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"): dict(kind="RoleBinding", namespaced=True,
                                                              short=[]),
    ("rbac.authorization.k8s.io", "v1", "clusterroles"): dict(kind="ClusterRole",
                                                              namespaced=False, short=[]),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"): dict(kind="ClusterRoleBinding",
                                                                     namespaced=False, short=[]),
})
KIND_TO_RES = {v["kind"]: k for k, v in RESOURCES.items()}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(group, version):
    return version if group == "" else group + "/" + version


def qualified(group, plural):
    return plural if group == "" else plural + "." + group


class ApiError(Exception):
    """An error answered as a Status object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


# ---- label selectors ----------------------------------------------------------------------------

_SEL_RE = re.compile(r"\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|"
                     r"\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_selector(sel):
    """'a=b,c!=d,e in (x,y),f notin (z),g,!h' -> list of predicates on a labels dict."""
    if not sel:
        return []
    parts, depth, cur = [], 0, ""
    for ch in sel:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    preds = []
    for p in parts:
        m = _SEL_RE.match(p)
        if not m:
            raise ApiError(400, "BadRequest",
                           "unable to parse requirement: invalid label selector %r" % p)
        neg, key, op, val, setop, setvals = m.groups()
        if neg and (op or setop):
            raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % p)
        if op in ("=", "=="):
            preds.append(lambda l, k=key, v=val: l.get(k) == v)
        elif op == "!=":
            preds.append(lambda l, k=key, v=val: l.get(k) != v)
        elif setop:
            vals = {x.strip() for x in setvals.split(",") if x.strip()}
            if setop == "in":
                preds.append(lambda l, k=key, vs=vals: l.get(k) in vs)
            else:
                preds.append(lambda l, k=key, vs=vals: l.get(k) not in vs)
        elif neg:
            preds.append(lambda l, k=key: k not in l)
        else:
            preds.append(lambda l, k=key: k in l)
    return preds


def labels_match(preds, obj):
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(p(labels) for p in preds)


# ---- patches ------------------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch):
    """Merge patch, except that lists of objects with a 'name' merge by name (containers, ports,
    env, volumes): enough for what kubectl sends."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif (isinstance(v, list) and isinstance(out.get(k), list) and v
              and all(isinstance(x, dict) and "name" in x for x in v)
              and all(isinstance(x, dict) and "name" in x for x in out[k])):
            merged = [copy.deepcopy(x) for x in out[k]]
            for item in v:
                for i, old in enumerate(merged):
                    if old["name"] == item["name"]:
                        if item.get("$patch") == "delete":
                            merged.pop(i)
                        else:
                            merged[i] = strategic_merge_patch(old, item)
                        break
                else:
                    if item.get("$patch") != "delete":
                        merged.append(copy.deepcopy(item))
            out[k] = merged
        else:
            out[k] = strategic_merge_patch(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", "invalid json pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        try:
            if kind == "test":
                cur = doc
                for p in parts:
                    cur = cur[int(p)] if isinstance(cur, list) else cur[p]
                if cur != op.get("value"):
                    raise ApiError(422, "Invalid", "the json patch test operation failed")
                continue
            if kind in ("move", "copy"):
                src = doc
                for p in _pointer(op.get("from", "")):
                    src = src[int(p)] if isinstance(src, list) else src[p]
                value = copy.deepcopy(src)
                if kind == "move":
                    parent, last = walk(_pointer(op["from"]))
                    if isinstance(parent, list):
                        parent.pop(int(last))
                    else:
                        del parent[last]
                kind, op = "add", {"value": value}
            parent, last = walk(parts)
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == "-" else int(last), op["value"])
                else:
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = op["value"]
                else:
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            else:
                raise ApiError(400, "BadRequest", "unknown json patch operation %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", "the json patch path %r does not exist"
                           % op.get("path"))
    return doc


# ---- protobuf (kubectl sends typed objects such as SelfSubjectAccessReview as protobuf) ---------

def pb_fields(buf):
    """Protocol buffers wire format -> {field number: [values]} (bytes for length-delimited)."""
    out, i = {}, 0

    def varint():
        nonlocal i
        shift = val = 0
        while True:
            b = buf[i]
            i += 1
            val |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return val
    while i < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            v = varint()
        elif wt == 2:
            n = varint()
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 1:
            v = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            v = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def pb_access_review(raw):
    """The 'k8s\\0' envelope of a SelfSubjectAccessReview -> the same review as JSON."""
    if not raw.startswith(b"k8s\x00"):
        raise ValueError("no protobuf envelope")
    unknown = pb_fields(raw[4:])
    review = pb_fields(unknown[2][0])
    spec = pb_fields(review.get(2, [b""])[0])

    def strs(msg, names):
        f = pb_fields(msg)
        return {name: f[n][0].decode() for n, name in names.items() if n in f and f[n][0]}
    out = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}}
    if 1 in spec:
        out["spec"]["resourceAttributes"] = strs(spec[1][0], {
            1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource",
            7: "name"})
    if 2 in spec:
        out["spec"]["nonResourceAttributes"] = strs(spec[2][0], {1: "path", 2: "verb"})
    return out


# ---- the store ----------------------------------------------------------------------------------

class Store:
    """Objects by (group, version, plural) -> {(namespace, name): obj}; one lock for everything."""

    def __init__(self):
        self.lock = threading.RLock()
        self.rv = 100
        self.objects = {k: {} for k in RESOURCES}
        self.rbac = {}            # user -> rules; a user absent from the map may do anything
        self.rbac_set = False     # until rules are given, every authenticated user is admin
        self.faults = []
        self.log = []
        self.seq = 0

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    # -- object lifecycle
    def create(self, res, ns, obj, replace=False):
        desc = RESOURCES[res]
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        if not name:
            raise ApiError(422, "Invalid", "%s \"\" is invalid: metadata.name: Required value"
                           % desc["kind"])
        if desc["namespaced"]:
            ns = ns or meta.get("namespace") or "default"
            meta["namespace"] = ns
            if ("", "v1", "namespaces") != res and (None, ns) not in self.objects[("", "v1", "namespaces")]:
                self.objects[("", "v1", "namespaces")][(None, ns)] = self._fresh(
                    ("", "v1", "namespaces"), {"metadata": {"name": ns}}, None)
        else:
            ns = None
            meta.pop("namespace", None)
        key = (ns, name)
        table = self.objects[res]
        if key in table and not replace:
            raise ApiError(409, "AlreadyExists", "%s \"%s\" already exists"
                           % (qualified(res[0], res[2]), name),
                           {"name": name, "group": res[0], "kind": res[2]})
        obj = self._fresh(res, obj, ns)
        table[key] = obj
        self.reconcile(res, obj)
        return obj

    def _fresh(self, res, obj, ns):
        obj = copy.deepcopy(obj)
        obj["kind"] = RESOURCES[res]["kind"]
        obj["apiVersion"] = api_version(res[0], res[1])
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta["resourceVersion"] = self.next_rv()
        meta["generation"] = 1
        if ns is not None:
            meta["namespace"] = ns
        self.defaults(res, obj)
        return obj

    def defaults(self, res, obj):
        kind = RESOURCES[res]["kind"]
        spec = obj.setdefault("spec", {}) if kind not in ("ConfigMap", "Secret", "Namespace") else None
        if kind in ("Deployment", "StatefulSet"):
            spec.setdefault("replicas", 1)
            spec.setdefault("selector", {"matchLabels": dict(
                obj["metadata"].get("labels") or {"app": obj["metadata"]["name"]})})
            spec.setdefault("template", {"metadata": {"labels": dict(
                spec["selector"].get("matchLabels") or {})},
                "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}})
        elif kind == "CronJob":
            spec.setdefault("suspend", False)
            spec.setdefault("schedule", "0 * * * *")
        elif kind == "Job":
            spec.setdefault("suspend", False)
        elif kind == "Namespace":
            obj["status"] = {"phase": "Active"}

    def update(self, res, key, new, expect_rv=None):
        old = self.objects[res][key]
        if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, key[1])
        new = copy.deepcopy(new)
        # identity fields cannot be changed by clients
        for f in ("uid", "creationTimestamp", "namespace", "name"):
            if f in old["metadata"]:
                new.setdefault("metadata", {})[f] = old["metadata"][f]
        new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["metadata"]["generation"] = old["metadata"].get("generation", 1)
        if new == old:
            return old
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[res][key] = new
        self.reconcile(res, new)
        return new

    def delete(self, res, key, policy):
        obj = self.objects[res].pop(key)
        kind = obj["kind"]
        if policy is None:
            # batch/v1 Jobs keep their pods unless told otherwise, for backwards compatibility
            policy = "Orphan" if kind == "Job" else "Background"
        self._dependents(obj, policy)
        if kind == "Namespace":
            for r in RESOURCES:
                for k in [k for k in self.objects[r] if k[0] == key[1]]:
                    del self.objects[r][k]
        return obj

    def _dependents(self, owner, policy):
        uid = owner["metadata"]["uid"]
        for r, table in self.objects.items():
            for k, o in list(table.items()):
                refs = o.get("metadata", {}).get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                if policy == "Orphan":
                    o["metadata"]["ownerReferences"] = [x for x in refs if x.get("uid") != uid]
                    o["metadata"]["resourceVersion"] = self.next_rv()
                else:
                    self.delete(r, k, "Background")

    # -- the controllers this fake pretends to run
    def reconcile(self, res, obj):
        kind = obj["kind"]
        if kind in ("Deployment", "StatefulSet"):
            want = int(obj["spec"].get("replicas") or 0)
            pods = self.owned_pods(obj)
            labels = dict(((obj["spec"].get("template") or {}).get("metadata") or {})
                          .get("labels") or {})
            while len(pods) < want:
                pods.append(self.make_pod(obj, labels, "%s-%s" % (obj["metadata"]["name"],
                                                                   uuid.uuid4().hex[:5])))
            for p in pods[want:]:
                self.delete(("", "v1", "pods"), (p["metadata"]["namespace"],
                                                 p["metadata"]["name"]), "Background")
            obj["status"] = {"observedGeneration": obj["metadata"]["generation"],
                             "replicas": want, "readyReplicas": want, "availableReplicas": want,
                             "updatedReplicas": want}
        elif kind == "Job":
            if not self.owned_pods(obj) and not obj["spec"].get("suspend") \
                    and not obj.get("status", {}).get("succeeded"):
                labels = {"job-name": obj["metadata"]["name"],
                          "controller-uid": obj["metadata"]["uid"]}
                labels.update(obj["metadata"].get("labels") or {})
                self.make_pod(obj, labels, "%s-%s" % (obj["metadata"]["name"],
                                                       uuid.uuid4().hex[:5]))
                obj["status"] = {"active": 1, "startTime": now_rfc3339()}

    def owned_pods(self, owner):
        uid = owner["metadata"]["uid"]
        return sorted((o for o in self.objects[("", "v1", "pods")].values()
                       if any(r.get("uid") == uid
                              for r in o["metadata"].get("ownerReferences") or [])),
                      key=lambda o: o["metadata"]["name"])

    def make_pod(self, owner, labels, name):
        pod = {"metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                            "labels": labels,
                            "ownerReferences": [{"apiVersion": owner["apiVersion"],
                                                 "kind": owner["kind"],
                                                 "name": owner["metadata"]["name"],
                                                 "uid": owner["metadata"]["uid"],
                                                 "controller": True}]},
               "spec": {"containers": [{"name": "app", "image": "example/app:1"}]},
               "status": {"phase": "Running"}}
        return self.create(("", "v1", "pods"), pod["metadata"]["namespace"], pod)

    # -- RBAC
    def allowed(self, user, groups, verb, group, resource, namespace, name):
        if not self.rbac_set or "system:masters" in groups:
            return True
        for rule in self.rbac.get(user, []):
            def has(key, value):
                vals = rule.get(key, ["*"])
                return "*" in vals or value in vals
            if not has("verbs", verb) or not has("apiGroups", group):
                continue
            if not has("resources", resource):
                continue
            if namespace and not has("namespaces", namespace):
                continue
            if rule.get("resourceNames") and name not in rule["resourceNames"]:
                continue
            return True
        return False

    def dump(self):
        out = {}
        for res, table in self.objects.items():
            key = "/".join(x for x in res if x)
            if not table:
                continue
            out[key] = {}
            for (ns, name), obj in sorted(table.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
                out[key].setdefault(ns or "", {})[name] = obj
        return {"resourceVersion": str(self.rv), "objects": out}


def conflict(res, name):
    return ApiError(409, "Conflict",
                    "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                    "please apply your changes to the latest version and try again"
                    % (qualified(res[0], res[2]), name),
                    {"name": name, "group": res[0], "kind": res[2]})


def not_found(res, name):
    return ApiError(404, "NotFound", "%s \"%s\" not found" % (qualified(res[0], res[2]), name),
                    {"name": name, "group": res[0], "kind": res[2]})


# ---- HTTP ---------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-fake/1.32"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        if self.server.verbose:
            sys.stderr.write("fake-kube: " + (fmt % args) + "\n")

    # every verb goes through one dispatcher
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def send_json(self, code, doc, headers=None):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def dispatch(self):
        store = self.server.store
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        raw = self.read_body()
        if url.path.startswith("/_control/"):
            return self.control(url.path, raw)
        entry = {"method": self.command, "path": url.path, "query": query,
                 "content_type": self.headers.get("Content-Type", ""),
                 "user_agent": self.headers.get("User-Agent", ""), "user": None,
                 "host": self.headers.get("Host", ""),
                 "sni": getattr(self.connection, "rb_sni", None)}
        try:
            entry["body"] = json.loads(raw) if raw else None
        except ValueError:
            entry["body"] = raw.decode("utf-8", "replace")
        code = 500
        try:
            user, groups = self.authenticate()
            entry["user"] = user
            if self.token_id:
                entry["token_sha256"] = self.token_id
            fault = self.take_fault(url.path, url.query)
            if fault is not None:
                if fault.get("hang"):
                    if fault.get("after"):
                        # the request takes effect, only its answer is lost (a crash after apply)
                        code, _doc, _h = self.api(url.path, query, raw, user, groups)
                        entry["applied"] = code
                    entry["status"] = "hang"
                    self.record(entry)
                    time.sleep(float(fault["hang"]))
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                st = int(fault.get("status", 500))
                headers = {}
                reason = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError",
                          502: "BadGateway", 503: "ServiceUnavailable", 504: "Timeout",
                          410: "Expired",
                          403: "Forbidden", 404: "NotFound", 401: "Unauthorized"}.get(st, "Unknown")
                details = None
                if "retry_after" in fault:
                    headers["Retry-After"] = str(fault["retry_after"])
                    details = {"retryAfterSeconds": int(fault["retry_after"])}
                raise ApiError(st, reason, fault.get("message",
                                                     "injected failure %d (fault knob)" % st),
                               details, headers)
            code, doc, headers = self.api(url.path, query, raw, user, groups)
            self.send_json(code, doc, headers)
        except ApiError as e:
            code = e.code
            self.send_json(e.code, e.status(), e.headers)
        except Exception as e:  # a bug in the fake: answer like the real server would
            code = 500
            self.send_json(500, ApiError(500, "InternalError", "fake: %r" % e).status())
        entry["status"] = code
        if getattr(self, "token_id", None):
            # also for a refused token (401): tests ask which token was refused
            entry["token_sha256"] = self.token_id
        self.record(entry)

    def record(self, entry):
        store = self.server.store
        with store.lock:
            store.seq += 1
            entry["seq"] = store.seq
            store.log.append(entry)

    def take_fault(self, path, query=""):
        store = self.server.store
        with store.lock:
            for f in store.faults:
                if f.get("count", 1) <= 0:
                    continue
                if f.get("method") and f["method"].upper() != self.command:
                    continue
                if f.get("path") and f["path"] not in path:
                    continue
                if f.get("query") and f["query"] not in urllib.parse.unquote(query):
                    continue
                f["count"] = f.get("count", 1) - 1
                return dict(f)
        return None

    def authenticate(self):
        auth = self.headers.get("Authorization", "")
        self.token_id = None
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
            # which token authenticated (for rotation tests), never the token itself
            self.token_id = hashlib.sha256(token.encode()).hexdigest()[:16]
            for row in self.server.read_tokens():
                if row[0] == token:
                    groups = row[3].split(",") if len(row) > 3 and row[3] else []
                    return row[1], groups + ["system:authenticated"]
            raise ApiError(401, "Unauthorized", "Unauthorized")
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if cert:
            cn, groups = None, []
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
                    elif k == "organizationName":
                        groups.append(v)
            if cn:
                return cn, groups + ["system:authenticated"]
        raise ApiError(401, "Unauthorized", "Unauthorized")

    # -- the control endpoint
    def control(self, path, raw):
        store = self.server.store
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.send_json(400, {"error": "body is not JSON"})
        with store.lock:
            if path == "/_control/state" and self.command == "GET":
                return self.send_json(200, store.dump())
            if path == "/_control/log":
                if self.command == "DELETE":
                    store.log = []
                    return self.send_json(200, {"ok": True})
                return self.send_json(200, {"items": store.log})
            if path == "/_control/faults":
                if self.command == "DELETE":
                    store.faults = []
                else:
                    store.faults.extend(body.get("faults", []))
                return self.send_json(200, {"faults": store.faults})
            if path == "/_control/rbac" and self.command == "POST":
                store.rbac = body.get("users", {})
                store.rbac_set = True
                return self.send_json(200, {"ok": True})
            if path == "/_control/objects" and self.command == "POST":
                try:
                    for obj in body.get("items", []):
                        seed(store, obj)
                except ApiError as e:
                    return self.send_json(e.code, e.status())
                return self.send_json(200, {"ok": True, "resourceVersion": str(store.rv)})
        return self.send_json(404, {"error": "unknown control path %s" % path})

    # -- the API
    def api(self, path, query, raw, user, groups):
        store = self.server.store
        if path in ("/version", "/version/"):
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                         "platform": "linux/amd64"}, None
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, "ok", None
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": self.server.addr}]}, None
        if path == "/apis":
            groups_seen = {}
            for (g, v, _p) in RESOURCES:
                if g:
                    groups_seen.setdefault(g, v)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": g + "/" + v, "version": v}],
                 "preferredVersion": {"groupVersion": g + "/" + v, "version": v}}
                for g, v in sorted(groups_seen.items())]}, None
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        elif len(parts) == 2 and parts[0] == "apis":
            g = parts[1]
            vs = sorted({v for (gg, v, _p) in RESOURCES if gg == g})
            if not vs:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": g,
                         "versions": [{"groupVersion": g + "/" + v, "version": v} for v in vs],
                         "preferredVersion": {"groupVersion": g + "/" + vs[0],
                                              "version": vs[0]}}, None
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not any(g == group and v == version for (g, v, _p) in RESOURCES):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return 200, self.discovery(group, version), None
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = (group, version, rest[0])
        if res not in RESOURCES or (ns is not None and not RESOURCES[res]["namespaced"]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub and not (sub == "scale" and RESOURCES[res].get("scale"))):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("1", "true")
                                           else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[self.command]
        if RESOURCES[res].get("create_only"):
            if verb != "create":
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource")
            return self.access_review(raw, user, groups)
        rname = res[2] + ("/" + sub if sub else "")
        with store.lock:
            if not store.allowed(user, groups, verb, group, rname, ns, name):
                what = ("%s \"%s\"" % (qualified(group, res[2]), name) if name
                        else qualified(group, res[2]))
                where = (" in the namespace \"%s\"" % ns) if ns else " at the cluster scope"
                raise ApiError(403, "Forbidden",
                               "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
                               "group \"%s\"%s" % (what, user, verb, rname, group, where),
                               {"name": name or "", "group": group, "kind": res[2]})
            if verb == "watch":
                raise ApiError(405, "MethodNotAllowed", "watch is not supported by the fake")
            return self.handle_resource(res, ns, name, sub, verb, query, raw)

    def discovery(self, group, version):
        out = []
        for (g, v, plural), d in sorted(RESOURCES.items()):
            if g != group or v != version:
                continue
            verbs = ["create"] if d.get("create_only") else ALL_VERBS
            out.append({"name": plural, "singularName": d["kind"].lower(),
                        "namespaced": d["namespaced"], "kind": d["kind"], "verbs": verbs,
                        "shortNames": d["short"]} if d["short"] else
                       {"name": plural, "singularName": d["kind"].lower(),
                        "namespaced": d["namespaced"], "kind": d["kind"], "verbs": verbs})
            if d.get("scale"):
                out.append({"name": plural + "/scale", "singularName": "", "namespaced": True,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})
            if d["kind"] not in ("SelfSubjectAccessReview", "ConfigMap", "Secret"):
                out.append({"name": plural + "/status", "singularName": "",
                            "namespaced": d["namespaced"], "kind": d["kind"],
                            "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": api_version(group, version), "resources": out}

    def access_review(self, raw, user, groups):
        store = self.server.store
        try:
            if self.headers.get("Content-Type", "").startswith("application/vnd.kubernetes.protobuf"):
                review = pb_access_review(raw)
            else:
                review = json.loads(raw)
        except (ValueError, KeyError, IndexError):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        spec = review.get("spec") or {}
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if bool(ra) == bool(nra):
            raise ApiError(422, "Invalid", "SelfSubjectAccessReview.authorization.k8s.io \"\" is "
                           "invalid: spec: Invalid value: exactly one of nonResourceAttributes "
                           "or resourceAttributes must be specified")
        if ra:
            resource = ra.get("resource", "") + ("/" + ra["subresource"]
                                                 if ra.get("subresource") else "")
            with store.lock:
                ok = store.allowed(user, groups, ra.get("verb", ""), ra.get("group", ""),
                                   resource, ra.get("namespace", ""), ra.get("name"))
        else:
            ok = True
        review["apiVersion"] = "authorization.k8s.io/v1"
        review["kind"] = "SelfSubjectAccessReview"
        review.setdefault("metadata", {})["creationTimestamp"] = None
        review["status"] = {"allowed": ok}
        if ok:
            review["status"]["reason"] = "allowed by the fake's rule set"
        return 201, review, None

    def handle_resource(self, res, ns, name, sub, verb, query, raw):
        store = self.server.store
        table = store.objects[res]
        desc = RESOURCES[res]
        if verb == "list":
            return 200, self.list(res, ns, query), None
        if verb == "create":
            obj = self.parse(raw)
            if name:
                raise ApiError(405, "MethodNotAllowed", "POST to a named object is not allowed")
            if ns and obj.get("metadata", {}).get("namespace") not in (None, ns):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            if query.get("dryRun") == "All":
                return 201, store._fresh(res, obj, ns), None
            return 201, store.create(res, ns, obj), None
        if verb == "deletecollection":
            preds = parse_selector(query.get("labelSelector", ""))
            body = self.parse(raw) if raw else {}
            policy = query.get("propagationPolicy") or body.get("propagationPolicy")
            gone = []
            for key in sorted(k for k in table if (ns is None or k[0] == ns)):
                if labels_match(preds, table[key]):
                    gone.append(table[key] if query.get("dryRun") == "All"
                                else store.delete(res, key, policy))
            items = []
            for o in gone:
                o = copy.deepcopy(o)
                o.pop("kind", None)
                o.pop("apiVersion", None)
                items.append(o)
            return 200, {"kind": desc["kind"] + "List", "apiVersion": api_version(res[0], res[1]),
                         "metadata": {"resourceVersion": str(store.rv)}, "items": items}, None
        key = (ns, name)
        if key not in table:
            raise not_found(res, name)
        obj = table[key]
        if sub == "scale":
            return self.scale(res, key, verb, raw)
        if verb == "get":
            return 200, obj, None
        if verb == "delete":
            body = self.parse(raw) if raw else {}
            policy = query.get("propagationPolicy") or body.get("propagationPolicy")
            pre = (body.get("preconditions") or {}).get("resourceVersion")
            if pre and pre != obj["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            if query.get("dryRun") == "All":
                return 200, obj, None
            store.delete(res, key, policy)
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Success",
                         "details": {"name": name, "group": res[0], "kind": res[2],
                                     "uid": obj["metadata"]["uid"]}}, None
        if verb == "update":
            new = self.parse(raw)
            rv = new.get("metadata", {}).get("resourceVersion")
            return 200, store.update(res, key, new, rv), None
        if verb == "patch":
            new = self.apply_patch(obj, raw)
            rv = new.get("metadata", {}).get("resourceVersion")
            if rv != obj["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return 200, store.update(res, key, new), None
        raise ApiError(405, "MethodNotAllowed", "method not allowed")

    def apply_patch(self, obj, raw):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        known = ("application/merge-patch+json", "application/strategic-merge-patch+json",
                 "application/json-patch+json")
        patch = self.parse(raw, allow_list=True) if ctype in known else None
        if ctype == "application/merge-patch+json":
            return merge_patch(obj, patch)
        if ctype == "application/strategic-merge-patch+json":
            return strategic_merge_patch(obj, patch)
        if ctype == "application/json-patch+json":
            return json_patch(obj, patch)
        raise ApiError(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json-patch+json, application/merge-patch+json, "
                       "application/strategic-merge-patch+json")

    def scale(self, res, key, verb, raw):
        store = self.server.store
        obj = store.objects[res][key]

        def as_scale(o):
            sel = ",".join("%s=%s" % kv for kv in sorted(
                (o["spec"].get("selector") or {}).get("matchLabels", {}).items()))
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": o["metadata"]["name"],
                                 "namespace": o["metadata"]["namespace"],
                                 "uid": o["metadata"]["uid"],
                                 "resourceVersion": o["metadata"]["resourceVersion"],
                                 "creationTimestamp": o["metadata"]["creationTimestamp"]},
                    "spec": {"replicas": int(o["spec"].get("replicas", 1))},
                    "status": {"replicas": int((o.get("status") or {}).get("replicas", 0)),
                               "selector": sel}}
        cur = as_scale(obj)
        if verb == "get":
            return 200, cur, None
        if verb == "update":
            new = self.parse(raw)
        elif verb == "patch":
            new = self.apply_patch(cur, raw)
        else:
            raise ApiError(405, "MethodNotAllowed", "method not allowed on scale")
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise conflict(res, key[1])
        replicas = (new.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", "Scale.autoscaling \"%s\" is invalid: spec.replicas: "
                           "Invalid value: %r: must be greater than or equal to 0"
                           % (key[1], replicas))
        upd = copy.deepcopy(obj)
        upd["spec"]["replicas"] = replicas
        return 200, as_scale(store.update(res, key, upd)), None

    def list(self, res, ns, query):
        store = self.server.store
        table = store.objects[res]
        preds = parse_selector(query.get("labelSelector", ""))
        fsel = {}
        for part in filter(None, query.get("fieldSelector", "").split(",")):
            k, _, v = part.partition("=")
            fsel[k.strip()] = v.strip().lstrip("=")
        keys = sorted((k for k in table if ns is None or k[0] == ns),
                      key=lambda k: (k[0] or "", k[1]))
        items = []
        for k in keys:
            o = table[k]
            if not labels_match(preds, o):
                continue
            if "metadata.name" in fsel and o["metadata"]["name"] != fsel["metadata.name"]:
                continue
            if "metadata.namespace" in fsel and k[0] != fsel["metadata.namespace"]:
                continue
            items.append(o)
        start = 0
        if query.get("continue"):
            try:
                tok = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start = int(tok["start"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid")
            if tok.get("rv", 0) < store.rv - 10000:
                raise ApiError(410, "Expired", "The provided continue parameter is too old")
        limit = int(query.get("limit") or 0)
        end = len(items) if limit <= 0 else min(len(items), start + limit)
        meta = {"resourceVersion": str(store.rv)}
        if end < len(items):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": store.rv, "start": end}).encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        page = []
        for o in items[start:end]:
            o = copy.deepcopy(o)
            o.pop("kind", None)        # the real server leaves them out of list items
            o.pop("apiVersion", None)
            page.append(o)
        return {"kind": RESOURCES[res]["kind"] + "List", "apiVersion": api_version(res[0], res[1]),
                "metadata": meta, "items": page}

    def parse(self, raw, allow_list=False):
        try:
            doc = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        if not isinstance(doc, dict) and not (allow_list and isinstance(doc, list)):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        return doc


def seed(store, obj):
    """Create or replace one object given with apiVersion and kind (control endpoint, state file)."""
    kind = obj.get("kind")
    if kind not in KIND_TO_RES:
        raise ApiError(400, "BadRequest", "fake cannot seed kind %r" % kind)
    res = KIND_TO_RES[kind]
    ns = obj.get("metadata", {}).get("namespace")
    key = (ns if RESOURCES[res]["namespaced"] else None, obj["metadata"]["name"])
    if key in store.objects[res]:
        store.delete(res, key, "Background")
    store.create(res, ns, obj)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, store, token_file, verbose):
        super().__init__(addr, Handler)
        self.store = store
        self.token_file = token_file
        self.verbose = verbose
        self.addr = "%s:%d" % self.server_address[:2]

    def read_tokens(self):
        """kube-apiserver --token-auth-file format, read on every request (rotation)."""
        if not self.token_file:
            return []
        try:
            with open(self.token_file, newline="") as f:
                return [row for row in csv.reader(f) if row and not row[0].startswith("#")]
        except OSError:
            return []

    def handle_error(self, request, client_address):
        # TLS handshakes refused by clients that distrust our CA land here: not interesting
        if self.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--tls-cert", required=True)
    ap.add_argument("--tls-key", required=True)
    ap.add_argument("--client-ca", help="CA that signs client certificates")
    ap.add_argument("--token-auth-file", help="CSV token,user,uid,\"groups\"")
    ap.add_argument("--state", help="JSON state file: items, rbac, faults")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    store = Store()
    if args.state:
        with open(args.state) as f:
            state = json.load(f)
        for obj in state.get("items", []):
            seed(store, obj)
        if "rbac" in state:
            store.rbac, store.rbac_set = state["rbac"].get("users", {}), True
        store.faults = state.get("faults", [])

    srv = Server((args.host, args.port), store, args.token_auth_file, args.verbose)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])

    def on_sni(sslobj, name, _ctx):
        # the name the client asked for (tls-server-name tests); None when it sent none
        sslobj.rb_sni = name
    ctx.sni_callback = on_sni
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
