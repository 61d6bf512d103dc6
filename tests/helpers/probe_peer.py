#!/usr/bin/python3
"""probe_peer.py — counterparts for cbd-probe's tests, each a real process.

Every real answer comes from a real cbd-serve (UPSTREAM, an Open Inference
Protocol base URL): these peers only change the wire shape or inject faults,
they never make up scores.

  probe_peer.py fault UPSTREAM MODEL PORTFILE [HANG_S]
      HTTP server on 127.0.0.1 (ephemeral port written to PORTFILE) that
      forwards OIP inference requests to UPSTREAM, except by request "id":
        s0  always 500                 s1  429 + Retry-After: 1, then OK
        s2  hangs HANG_S once, then OK s3  closes the connection once
        s4  always garbage JSON        s5  503 once, then OK
        s6  307 to another host once   (never followed)
        s7  307 to this same URL once  (followed with --follow-redirects)
      It logs "id attempt" lines to PORTFILE.log.
  probe_peer.py oip UPSTREAM MODEL PORTFILE
      A plain OIP forwarder (no faults).  With PEER_CERT/PEER_KEY in the
      environment it speaks HTTPS; with PEER_TOKEN it answers 401 unless
      the request has "Authorization: Bearer PEER_TOKEN".
  probe_peer.py tfserving UPSTREAM MODEL PORTFILE
      TensorFlow Serving REST: POST /v1/models/MODEL:predict
      {"instances": [...]} -> {"predictions": [[scores]]}
  probe_peer.py tfserving UPSTREAM MODEL PORTFILE
      also GET /v1/models/MODEL (model status, version "1" AVAILABLE) and
      GET /v1/models/MODEL/metadata (a serving_default signature_def made
      from UPSTREAM's OIP metadata), as TF Serving's REST API documents.
  probe_peer.py tfobj UPSTREAM MODEL PORTFILE
      TF Serving with a two-output signature (class_ids DT_INT64 [-1,1],
      logits DT_FLOAT [-1,K]): {"predictions":[{"class_ids":[k],
      "logits":[...]}]} (object format).
  probe_peer.py labelfirst|labelonly|wrongid|flip|fp64 UPSTREAM MODEL PORTFILE
      OIP servers (KServe v2 REST: GET /v2/health/ready, GET
      /v2/models/MODEL metadata, POST .../infer honouring the request's
      "outputs" names):
        labelfirst  outputs label INT64 [1] first, then logits FP32 [1,K]
        labelonly   only label INT64 [1]
        wrongid     answers carry the id "not-" + the request's id
        flip        answers the probe's decoy (id d00000), 400s every
                    other request ("changes layout halfway")
        fp64        the one output as FP64, its data nested [[...]] (the
                    upstream's float32 values, exactly)
      Every POST is logged as "id" to PORTFILE.log (oip and fault too).
  probe_peer.py triton UPSTREAM MODEL PORTFILE
      OIP with Triton's binary tensor data extension, written from its
      documentation: GET /v2 lists "binary_tensor_data" (not with
      PEER_NO_BINARY=1 in the environment); a request with an
      Inference-Header-Content-Length header has that many bytes of JSON,
      then each input's binary_data_size bytes (FP32 little-endian, or
      UINT8) in input order; an output with "binary_data": true (or all
      outputs under the request's "binary_data_output": true) comes back
      as binary_data_size bytes of little-endian FP32 after the JSON, with
      Inference-Header-Content-Length and application/octet-stream.
      Logs "id binary|json" to PORTFILE.log per POST.
  All OIP modes forward GET /v2/... to UPSTREAM (health, metadata).
  probe_peer.py exec UPSTREAM MODEL [stray|stray-mid|wrongid|die]
      JSON lines on stdin/stdout in cbd-probe(1)'s exec format; with
      stray: prints "loading weights... done" before its first answer;
      stray-mid: prints that line before its 6th answer; wrongid: answers
      with the id "not-" + the request's; die: exits after 5 answers.
"""
import json
import os
import ssl
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def upstream_get(upstream, path):
    try:
        with urllib.request.urlopen(upstream + path, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def upstream_infer(upstream, model, inputs):
    body = json.dumps({"inputs": inputs}).encode()
    req = urllib.request.Request(
        f"{upstream}/v2/models/{model}/infer", data=body,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["outputs"][0]


def flatten(x):
    if isinstance(x, list):
        out = []
        for v in x:
            out.extend(flatten(v))
        return out
    return [x]


def shape_of(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0]
    return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counts = {}
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def send(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout)

    def log_id(self, rid):
        with self.lock:
            with open(self.server.logpath, "a") as f:
                f.write(f"{rid}\n")

    def do_GET(self):
        mode, model = self.server.mode, self.server.model
        token = os.environ.get("PEER_TOKEN")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            return self.send(401, {"error": "missing or wrong token"})
        if mode in ("tfserving", "tfobj"):
            return self.tf_get()
        if mode == "triton" and self.path == "/v2":
            ext = [] if os.environ.get("PEER_NO_BINARY") else \
                ["binary_tensor_data"]
            return self.send(200, {"name": "triton-peer", "version": "2.40",
                                   "extensions": ext})
        code, body = upstream_get(self.server.upstream, self.path)
        if code == 200 and self.path == f"/v2/models/{model}" and \
                mode == "fp64":
            meta = json.loads(body)
            meta["outputs"][0]["datatype"] = "FP64"
            body = json.dumps(meta).encode()
        elif code == 200 and self.path == f"/v2/models/{model}" and \
                mode in ("labelfirst", "labelonly"):
            meta = json.loads(body)
            k = meta["outputs"][0]["shape"][-1]
            lab = {"name": "label", "datatype": "INT64", "shape": [-1]}
            meta["outputs"] = [lab] if mode == "labelonly" else [
                lab, {"name": "logits", "datatype": "FP32", "shape": [-1, k]}]
            body = json.dumps(meta).encode()
        self.send(code, body)

    def tf_get(self):
        model = self.server.model
        base = f"/v1/models/{model}"
        if self.path == base or self.path == base + "/versions/1":
            return self.send(200, {"model_version_status": [{
                "version": "1", "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}]})
        if self.path not in (base + "/metadata",
                             base + "/versions/1/metadata"):
            return self.send(404, {"error": "Could not find any versions "
                                   f"of model {model}"})
        code, body = upstream_get(self.server.upstream, f"/v2/models/{model}")
        meta = json.loads(body)
        tfdt = {"FP32": "DT_FLOAT", "UINT8": "DT_UINT8", "INT64": "DT_INT64"}

        def spec(t, name=None):
            return {"dtype": tfdt[t["datatype"]], "name": name or t["name"],
                    "tensor_shape": {"dim": [{"size": str(d), "name": ""}
                                             for d in t["shape"]],
                                     "unknown_rank": False}}
        inp = meta["inputs"][0]
        out = meta["outputs"][0]
        outs = {out["name"]: spec(out)}
        if self.server.mode == "tfobj":
            outs = {"class_ids": {"dtype": "DT_INT64", "name": "class_ids",
                                  "tensor_shape": {"dim": [
                                      {"size": "-1", "name": ""},
                                      {"size": "1", "name": ""}]}},
                    "logits": spec(out, "logits")}
        self.send(200, {"model_spec": {"name": model, "signature_name": "",
                                       "version": "1"},
                        "metadata": {"signature_def": {"signature_def": {
                            "serving_default": {
                                "inputs": {inp["name"]: spec(inp)},
                                "outputs": outs,
                                "method_name":
                                    "tensorflow/serving/predict"}}}}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if self.server.mode == "triton":
            return self.triton(self.rfile.read(n))
        req = json.loads(self.rfile.read(n))
        if self.server.mode in ("tfserving", "tfobj"):
            return self.tfserving(req)
        if self.server.mode in ("labelfirst", "labelonly", "wrongid",
                                "flip", "fp64"):
            return self.oip_variant(req)
        token = os.environ.get("PEER_TOKEN")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            return self.send(401, {"error": "missing or wrong token"})
        if self.server.mode == "oip":
            self.log_id(req.get("id", ""))
            out = upstream_infer(self.server.upstream, self.server.model,
                                 req["inputs"])
            return self.send(200, {"model_name": self.server.model,
                                   "outputs": [out]})
        rid = req.get("id", "")
        with self.lock:
            k = self.counts[rid] = self.counts.get(rid, 0) + 1
            with open(self.server.logpath, "a") as f:
                f.write(f"{rid} {k} {time.time():.3f}\n")
        if rid == "s0":
            return self.send(500, {"error": "injected 500"})
        if rid == "s1" and k == 1:
            return self.send(429, {"error": "slow down"},
                             [("Retry-After", "1")])
        if rid == "s2" and k == 1:
            time.sleep(self.server.hang)
            return self.send(500, {"error": "late"})
        if rid == "s3" and k == 1:
            self.close_connection = True
            return
        if rid == "s4":
            return self.send(200, b'{"outputs": [{"data": [1, 2,,,')
        if rid == "s5" and k == 1:
            return self.send(503, {"error": "busy"})
        if rid == "s6" and k == 1:
            return self.send(307, {"error": "moved"},
                             [("Location", "http://127.0.0.2:1/elsewhere")])
        if rid == "s7" and k == 1:
            host, port = self.server.server_address
            return self.send(307, {"error": "moved"}, [(
                "Location", f"http://{host}:{port}{self.path}?moved=1")])
        out = upstream_infer(self.server.upstream, self.server.model,
                             req["inputs"])
        self.send(200, {"model_name": self.server.model, "id": rid,
                        "outputs": [out]})

    def oip_variant(self, req):
        mode, rid = self.server.mode, req.get("id", "")
        self.log_id(rid)
        with self.lock:
            k = self.counts["*"] = self.counts.get("*", 0) + 1
        if mode == "flip" and rid != "d00000":
            return self.send(400, {"error": "input 'input' must be UINT8"})
        out = upstream_infer(self.server.upstream, self.server.model,
                             req["inputs"])
        d = out["data"]
        label = {"name": "label", "datatype": "INT64", "shape": [1],
                 "data": [max(range(len(d)), key=lambda i: (d[i], -i))]}
        logits = dict(out, name="logits")
        outs = [out]
        if mode == "fp64":
            k = len(d)
            outs = [dict(out, datatype="FP64", shape=[1, k], data=[list(d)])]
        if mode == "labelfirst":
            outs = [label, logits]
        elif mode == "labelonly":
            outs = [label]
        want = [o["name"] for o in req.get("outputs", [])]
        if want:
            outs = [o for o in outs if o["name"] in want]
        if mode == "wrongid":
            rid = "not-" + rid
        self.send(200, {"model_name": self.server.model, "id": rid,
                        "outputs": outs})

    def triton(self, body):
        hl = self.headers.get("Inference-Header-Content-Length")
        head = body if hl is None else body[:int(hl)]
        rest = b"" if hl is None else body[int(hl):]
        req = json.loads(head)
        self.log_id(f"{req.get('id', '')} {'json' if hl is None else 'binary'}")
        inputs = []
        for i in req["inputs"]:
            size = i.get("parameters", {}).get("binary_data_size")
            i = {k: v for k, v in i.items() if k != "parameters"}
            if size is not None:
                raw, rest = rest[:size], rest[size:]
                if i["datatype"] == "FP32":
                    i["data"] = list(struct.unpack("<%df" % (size // 4), raw))
                else:
                    i["data"] = list(raw)
            inputs.append(i)
        if rest:
            return self.send(400, {"error": "unexpected bytes after inputs"})
        out = upstream_infer(self.server.upstream, self.server.model, inputs)
        want = {o["name"]: o for o in req.get("outputs", [])}
        every = req.get("parameters", {}).get("binary_data_output", False)
        binary = want.get(out["name"], {}).get("parameters", {}).get(
            "binary_data", every)
        res = {"model_name": self.server.model, "model_version": "1",
               "outputs": [out]}
        if "id" in req:
            res["id"] = req["id"]
        if not binary:
            return self.send(200, res)
        data = struct.pack("<%df" % len(out["data"]), *out["data"])
        out = {k: v for k, v in out.items() if k != "data"}
        out["parameters"] = {"binary_data_size": len(data)}
        res["outputs"] = [out]
        j = json.dumps(res).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Inference-Header-Content-Length", str(len(j)))
        self.send_header("Content-Length", str(len(j) + len(data)))
        self.end_headers()
        self.wfile.write(j + data)

    def tfserving(self, req):
        if self.path != f"/v1/models/{self.server.model}:predict":
            return self.send(404, {"error": "no such model"})
        inst = req["instances"]
        shape = [len(inst)] + shape_of(inst[0])
        dt = "UINT8" if all(isinstance(v, int) for v in flatten(inst)) \
            else "FP32"
        out = upstream_infer(self.server.upstream, self.server.model, [{
            "name": "input", "shape": shape, "datatype": dt,
            "data": flatten(inst)}])
        k = out["shape"][1]
        d = out["data"]
        rows = [d[i * k:(i + 1) * k] for i in range(shape[0])]
        self.log_id("predict")
        if self.server.mode == "tfobj":
            rows = [{"class_ids": [max(range(k), key=lambda i: (r[i], -i))],
                     "logits": r} for r in rows]
        self.send(200, {"predictions": rows})


def serve(mode, upstream, model, portfile, hang=3.0):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.mode, srv.upstream, srv.model, srv.hang = mode, upstream, model, hang
    if os.environ.get("PEER_CERT"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["PEER_CERT"], os.environ["PEER_KEY"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.logpath = portfile + ".log"
    open(srv.logpath, "w").close()
    with open(portfile + ".tmp", "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


def exec_loop(upstream, model, quirk=""):
    n = 0
    for line in sys.stdin:
        req = json.loads(line)
        n += 1
        if (quirk == "stray" and n == 1) or (quirk == "stray-mid" and n == 6):
            sys.stdout.write("loading weights... done\n")
        if quirk == "die" and n == 6:
            sys.exit(0)
        try:
            out = upstream_infer(upstream, model, [{
                "name": "input", "shape": req["shape"],
                "datatype": req["datatype"], "data": req["data"]}])
            ans = {"id": req["id"], "scores": out["data"]}
            if quirk == "wrongid":
                ans["id"] = "not-" + req["id"]
        except Exception as e:  # report, do not die
            ans = {"id": req.get("id"), "error": str(e)}
        try:
            sys.stdout.write(json.dumps(ans) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # cbd-probe restarted us
            os._exit(0)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "exec":
        exec_loop(sys.argv[2], sys.argv[3],
                  sys.argv[4] if len(sys.argv) > 4 else "")
    else:
        serve(mode, sys.argv[2], sys.argv[3], sys.argv[4],
              float(sys.argv[5]) if len(sys.argv) > 5 else 3.0)
