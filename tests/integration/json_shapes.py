#!/usr/bin/env python3
"""json_shapes.py - check one `rollbackctl -o json` invocation against docs/json.md.

  json_shapes.py check DOC_MD SCHEMA STDOUT STDERR EXIT [COMMAND]
      STDOUT must hold exactly one JSON document (no duplicate keys, nothing after it) that
      validates against the `envelope` schema and the schema named SCHEMA (each a ```json block
      after a `<!-- schema: NAME -->` line of DOC_MD); its first keys are format_version (1) and
      command (COMMAND, default SCHEMA; "null" for null); every top-level key is one the two
      schemas document. With EXIT 0 there is no `error`; otherwise error.exit_code is EXIT and
      STDERR has the line "rollbackctl: error: MESSAGE" (and "HINT: HINT" when there is one).
  json_shapes.py batch DOC_MD LIST
      the same for each line of LIST: SCHEMA, COMMAND, EXIT, STDOUT, STDERR and what it was,
      separated by tabs (one Python start for all: the jsonschema import is the slow part);
      "ok - WHAT" or "not ok - WHAT" for each on stdout, the problems on stderr.
  json_shapes.py names DOC_MD
      the schema names, one per line.
Exit 0 when the invocation is as documented; else 1 with what is wrong on stderr.
"""
import json
import re
import sys
import warnings

import jsonschema

BLOCK = re.compile(r"^<!-- schema: ([a-z_-]+) -->\n```json\n(.*?)^```", re.M | re.S)


def schemas_of(doc_md):
    text = open(doc_md, encoding="utf-8").read()
    out = {}
    for name, body in BLOCK.findall(text):
        if name in out:
            raise SystemExit("%s: schema '%s' twice" % (doc_md, name))
        try:
            out[name] = json.loads(body)
        except ValueError as e:
            raise SystemExit("%s: schema '%s' is not JSON: %s" % (doc_md, name, e))
        jsonschema.Draft202012Validator.check_schema(out[name])
    return out


def validator(schemas, name):
    """A validator of schema `name` that resolves $ref to the others by their $id."""
    schema = schemas[name]
    try:  # jsonschema >= 4.18
        from referencing import Registry, Resource
        reg = Registry().with_resources(
            (s["$id"], Resource.from_contents(s)) for s in schemas.values())
        return jsonschema.Draft202012Validator(schema, registry=reg)
    except ImportError:  # 4.10 (Debian 12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            store = {s["$id"]: s for s in schemas.values()}
            resolver = jsonschema.RefResolver.from_schema(schema, store=store)
            return jsonschema.Draft202012Validator(schema, resolver=resolver)


def top_keys(schema, schemas):
    """The top-level keys a schema documents, following a top-level $ref."""
    keys = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if ref is not None:
        for s in schemas.values():
            if s.get("$id") == ref:
                keys |= top_keys(s, schemas)
    return keys


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys %s" % dup)
    return dict(pairs)


def check(schemas, name, out_file, err_file, exit_code, command):
    problems = []
    if name not in schemas:
        return ["docs/json.md has no schema '%s'" % name]
    raw = open(out_file, encoding="utf-8").read()
    try:
        ordered, end = json.JSONDecoder(object_pairs_hook=lambda p: p).raw_decode(raw.lstrip())
        doc = json.loads(raw, object_pairs_hook=no_duplicates)
    except ValueError as e:
        return ["stdout is not one JSON document (%s): %r" % (e, raw[:400])]
    if not isinstance(doc, dict):
        return ["the document is not an object: %r" % raw[:200]]
    keys = [k for k, _ in ordered]
    if keys[:2] != ["format_version", "command"]:
        problems.append("the first keys are %s, not format_version, command" % keys[:2])
    if "error" in doc and keys[-1] != "error":
        problems.append("error is not the last key: %s" % keys)
    for s in ("envelope", name):
        for e in sorted(validator(schemas, s).iter_errors(doc), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            problems.append("schema %s: at %s: %s" % (s, where, e.message[:300]))
    undocumented = set(doc) - top_keys(schemas["envelope"], schemas) - top_keys(schemas[name], schemas)
    if undocumented:
        problems.append("keys not in docs/json.md's '%s': %s" % (name, sorted(undocumented)))
    want = None if command == "null" else command
    if doc.get("command") != want:
        problems.append("command is %r, not %r" % (doc.get("command"), want))
    err_text = open(err_file, encoding="utf-8", errors="replace").read()
    error = doc.get("error")
    if exit_code == 0:
        if error is not None:
            problems.append("exit 0 with an error: %r" % error)
    elif not isinstance(error, dict):
        problems.append("exit %d without an error object" % exit_code)
    else:
        if error.get("exit_code") != exit_code:
            problems.append("error.exit_code %r, but the exit status was %d"
                            % (error.get("exit_code"), exit_code))
        lines = err_text.splitlines()
        line = "rollbackctl: error: %s" % error.get("message")
        if line not in lines:
            problems.append("stderr lacks %r: %r" % (line, err_text[-600:]))
        if error.get("hint") is not None and "HINT: %s" % error["hint"] not in lines:
            problems.append("stderr lacks the hint %r" % error["hint"])
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "names":
        print("\n".join(schemas_of(argv[2])))
        return 0
    if len(argv) in (7, 8) and argv[1] == "check":
        name = argv[3]
        problems = check(schemas_of(argv[2]), name, argv[4], argv[5], int(argv[6]),
                         argv[7] if len(argv) == 8 else name)
        for p in problems:
            print("json_shapes: %s: %s" % (name, p), file=sys.stderr)
        return 1 if problems else 0
    if len(argv) == 4 and argv[1] == "batch":
        schemas, failed, n = schemas_of(argv[2]), 0, 0
        for line in open(argv[3], encoding="utf-8"):
            name, command, exit_code, out_file, err_file, what = line.rstrip("\n").split("\t")
            n += 1
            problems = check(schemas, name, out_file, err_file, int(exit_code), command)
            print("%s - %s" % ("not ok" if problems else "ok", what))
            for p in problems:
                print("json_shapes: %s (exit %s): %s" % (what, exit_code, p), file=sys.stderr)
            if problems:
                print("json_shapes: its stdout: %s" % open(out_file).read()[:1500], file=sys.stderr)
            failed += bool(problems)
        print("%d of %d documents as docs/json.md says" % (n - failed, n))
        return 1 if failed or n == 0 else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
