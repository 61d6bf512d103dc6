#!/usr/bin/python3
"""slow_client.py — slow HTTP clients against a loopback server (tests only).

    slow_client.py PORT N SECONDS

Opens N connections to 127.0.0.1:PORT and, for SECONDS, trickles a valid
request one byte every 0.2 s (slowloris); half of them also stop reading.
Prints how many connections the server closed on them.  The server must
keep answering other clients meanwhile (tests/cli/load.bats checks that).
"""
import socket, sys, time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
assert n <= 64 and secs <= 60
req = (b"POST /v2/models/mnist/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
       b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
       + b"{" * 1000)
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    socks.append([s, 0])
end = time.time() + secs
closed = 0
while time.time() < end and socks:
    for e in list(socks):
        s, off = e
        try:
            s.send(req[off:off + 1])
            e[1] = off + 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            closed += 1
            socks.remove(e)
            s.close()
    time.sleep(0.2)
for s, _ in socks:
    s.close()
print("closed", closed)
