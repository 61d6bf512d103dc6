#!/usr/bin/python3
"""hostile_endpoint.py — a hostile inference endpoint for cbd-probe's tests.

    hostile_endpoint.py PORTFILE

Listens on 127.0.0.1 (ephemeral port written to PORTFILE) and on
127.0.0.2 (port written to PORTFILE.other: the "other host" a redirect
points to; every request it gets is logged to PORTFILE.other.log and must
never come).  Open Inference Protocol requests are answered by request
"id" (cbd-probe --samples sends s<index>):

  s0, s8  a valid answer: 10 scores, argmax at (index % 10)
  s1      a huge answer: 64 MiB of scores, streamed
  s2      JSON nested 100000 levels deep
  s3      NaN (the bare token, not JSON) among the scores
  s4      1e999 (parses as infinity) among the scores
  s5      3 scores for a 10-class model
  s6      307 redirect to 127.0.0.2 (another host)
  s7      307 redirect to this host's /same (answered validly there)
  s9      Content-Length 5000, 10 bytes sent, connection closed
  s10     HTTP 200 with an empty body
  s11     outputs is a string, not an array
  d00000  (cbd-probe's decoy) a valid answer
GET /v2/health/ready and GET /v2/models/mnist (metadata: input "input"
FP32 [-1,1,28,28], output "scores" FP32 [-1,10]) answer as KServe v2 says.
Loopback only; the test kills it, and it exits by itself after 120 s.
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile = sys.argv[1]


def valid(k):
    sc = [0.0] * 10
    sc[k % 10] = 5.0
    return json.dumps({"model_name": "mnist", "outputs": [
        {"name": "scores", "shape": [1, 10], "datatype": "FP32",
         "data": sc}]}).encode()


class Other(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        with open(portfile + ".other.log", "a") as f:
            f.write(self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, body, status=200, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v2/health/ready":
            return self.reply(b'{"ready":true}')
        if self.path == "/v2/models/mnist":
            return self.reply(json.dumps({
                "name": "mnist", "versions": ["1"], "platform": "hostile",
                "inputs": [{"name": "input", "datatype": "FP32",
                            "shape": [-1, 1, 28, 28]}],
                "outputs": [{"name": "scores", "datatype": "FP32",
                             "shape": [-1, 10]}]}).encode())
        self.reply(b'{"error":"no such path"}', 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n))
        if req.get("id") == "d00000":
            return self.reply(valid(0))
        if self.path.endswith("/same"):
            return self.reply(valid(7))
        sid = req.get("id", "")
        k = int(sid[1:]) if sid[:1] == "s" and sid[1:].isdigit() else -1
        if k in (0, 8):
            self.reply(valid(k))
        elif k == 1:
            total = 64 << 20
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            head = b'{"outputs":[{"name":"scores","data":['
            chunk = b"0.5," * 16384
            sent = 0
            try:
                self.wfile.write(head)
                sent += len(head)
                while sent + len(chunk) < total:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass   # the client gave up: that is the point
            self.close_connection = True
        elif k == 2:
            self.reply(b'{"outputs":[{"data":' + b"[" * 100000 +
                       b"1" + b"]" * 100000 + b"}]}")
        elif k == 3:
            self.reply(b'{"outputs":[{"data":[0,1,NaN,3,4,5,6,7,8,9]}]}')
        elif k == 4:
            self.reply(b'{"outputs":[{"data":[0,1,1e999,3,4,5,6,7,8,9]}]}')
        elif k == 5:
            self.reply(b'{"outputs":[{"data":[0.1,0.7,0.2]}]}')
        elif k == 6:
            loc = "http://127.0.0.2:%d/stolen" % other_port
            self.reply(b"", 307, [("Location", loc)])
        elif k == 7:
            self.reply(b"", 307, [("Location", "/v2/models/mnist/same")])
        elif k == 9:
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b'{"outputs"')
            self.wfile.flush()
            self.close_connection = True
        elif k == 10:
            self.reply(b"")
        elif k == 11:
            self.reply(b'{"outputs":"scores"}')
        else:
            self.reply(b'{"error":"unknown id"}', 400)


other = ThreadingHTTPServer(("127.0.0.2", 0), Other)
other_port = other.server_address[1]
srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
srv.daemon_threads = True
for s in (other, srv):
    threading.Thread(target=s.serve_forever, daemon=True).start()
with open(portfile + ".other", "w") as f:
    f.write(str(other_port))
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)


def watchdog():
    time.sleep(120)
    os._exit(0)



watchdog()
