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
  probe_peer.py exec UPSTREAM MODEL
      JSON lines on stdin/stdout in cbd-probe(1)'s exec format.
"""
import json
import os
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n))
        if self.server.mode == "tfserving":
            return self.tfserving(req)
        token = os.environ.get("PEER_TOKEN")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            return self.send(401, {"error": "missing or wrong token"})
        if self.server.mode == "oip":
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
        self.send(200, {"predictions":
                        [d[i * k:(i + 1) * k] for i in range(shape[0])]})


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


def exec_loop(upstream, model):
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = upstream_infer(upstream, model, [{
                "name": "input", "shape": req["shape"],
                "datatype": req["datatype"], "data": req["data"]}])
            ans = {"id": req["id"], "scores": out["data"]}
        except Exception as e:  # report, do not die
            ans = {"id": req.get("id"), "error": str(e)}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "exec":
        exec_loop(sys.argv[2], sys.argv[3])
    else:
        serve(mode, sys.argv[2], sys.argv[3], sys.argv[4],
              float(sys.argv[5]) if len(sys.argv) > 5 else 3.0)
