#!/usr/bin/python3
"""check_transcript.py — an independent reader of cbd-transcript/1 for tests.

Verifies the hash chain and the seq numbers from the raw bytes (not with
libcbd), then prints one JSON summary on stdout:
  {"lines": n, "queries": n, "distinct": n, "answered": n, "failed": n,
   "complete": bool, "resumes": n, "labels": {index: label},
   "errors": {trigger: error}, "attempts": {trigger: n}, "header": {...},
   "preflight": {...} (the last preflight line, if any), "aborts": n}
Exits 1 with a message on stderr when the chain or the structure is bad.
"""
import hashlib
import json
import sys


def main(path):
    data = open(path, "rb").read() if path != "-" else sys.stdin.buffer.read()
    if not data.startswith(b'{"format":"cbd-transcript/1",'):
        sys.exit("not a transcript")
    if not data.endswith(b"\n"):
        sys.exit("torn last line")
    prev = "0" * 64
    out = {"lines": 0, "queries": 0, "answered": 0, "failed": 0,
           "complete": False, "resumes": 0, "aborts": 0, "labels": {}, "errors": {},
           "attempts": {}}
    seen = set()
    for i, raw in enumerate(data[:-1].split(b"\n")):
        rec = json.loads(raw)
        if rec["prev"] != prev:
            sys.exit(f"chain broken at line {i + 1}")
        prev = hashlib.sha256(raw).hexdigest()
        if i == 0:
            out["header"] = rec
            continue
        if rec["seq"] != i:
            sys.exit(f"bad seq at line {i + 1}")
        if out["complete"]:
            sys.exit("line after end")
        if rec["type"] == "query":
            if rec["index"] in seen:
                sys.exit(f"index {rec['index']} twice")
            seen.add(rec["index"])
            out["queries"] += 1
            out["attempts"][rec["trigger"]] = rec["attempts"]
            if rec["error"] is None:
                out["answered"] += 1
                out["labels"][rec["index"]] = rec["label"]
            else:
                out["failed"] += 1
                out["errors"][rec["trigger"]] = rec["error"]
        elif rec["type"] == "resume":
            out["resumes"] += 1
        elif rec["type"] == "preflight":
            if out["queries"] and not out["resumes"]:
                sys.exit(f"preflight after a query at line {i + 1}")
            out["preflight"] = rec
        elif rec["type"] == "abort":
            out["aborts"] += 1
        elif rec["type"] == "end":
            out["complete"] = True
        out["lines"] = i + 1
    out["distinct"] = len(seen)
    print(json.dumps(out))


main(sys.argv[1])
