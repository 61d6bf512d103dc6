#!/usr/bin/python3
"""triton_binary.py — a client of Triton's binary tensor data extension,
written from the extension's documentation (NVIDIA Triton "Binary Tensor
Data Extension"; KServe's copy of it), with Python's standard library only
(numpy just loads the sample file).  It is not derived from cbd's code.

  triton_binary.py infer URL MODEL NPY N DATATYPE IN OUT OUTNAME
      POST URL/v2/models/MODEL/infer for the first N samples of NPY (uint8
      images; FP32 sends q/255).  IN is "json" or "binary" (the input as
      "data" or as binary_data_size bytes after the JSON header); OUT is
      "json", "binary" (binary_data on the output), "all" (the request's
      binary_data_output) or "override" (binary_data_output true, the
      output's binary_data false).  Prints one JSON object: status,
      content_type, header_length (Inference-Header-Content-Length or
      null), the output's name, shape, parameters, and its float32 values
      as hex of their little-endian bits ("bits").
  triton_binary.py raw URL MODEL HEADER_LEN|- BODYFILE
      POST BODYFILE as is, with that Inference-Header-Content-Length (or
      none for "-"); prints "status error-message".

The wire format (both directions): the JSON object, then the tensors'
bytes in the order of the tensors that carry binary_data_size, little
endian, row major, no padding; Inference-Header-Content-Length is the
JSON's length in bytes.
"""
import http.client
import json
import struct
import sys
import urllib.parse


def post(url, path, body, header_len):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Content-Type": "application/octet-stream" if header_len is not None
         else "application/json"}
    if header_len is not None:
        h["Inference-Header-Content-Length"] = str(header_len)
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hl = r.getheader("Inference-Header-Content-Length")
    out = (r.status, r.getheader("Content-Type"),
           int(hl) if hl is not None else None, data)
    c.close()
    return out


def infer(url, model, npy, n, dt, inmode, outmode, outname):
    import numpy as np
    x = np.load(npy)[:n]
    if dt == "FP32":
        vals = (x.astype(np.float32) / np.float32(255)).reshape(-1)
        raw = struct.pack("<%df" % vals.size, *vals.tolist())
    else:
        vals = x.reshape(-1)
        raw = bytes(vals.tolist())
    inp = {"name": "input", "shape": [n] + list(x.shape[1:]),
           "datatype": dt}
    req = {"id": "b1", "inputs": [inp]}
    if inmode == "binary":
        inp["parameters"] = {"binary_data_size": len(raw)}
    else:
        inp["data"] = [float(v) if dt == "FP32" else int(v) for v in vals]
    if outmode == "binary":
        req["outputs"] = [{"name": outname,
                           "parameters": {"binary_data": True}}]
    elif outmode == "all":
        req["parameters"] = {"binary_data_output": True}
    elif outmode == "override":
        req["parameters"] = {"binary_data_output": True}
        req["outputs"] = [{"name": outname,
                           "parameters": {"binary_data": False}}]
    else:
        req["outputs"] = [{"name": outname}]
    head = json.dumps(req).encode()
    if inmode == "binary":
        status, ctype, hl, data = post(url, "/v2/models/%s/infer" % model,
                                       head + raw, len(head))
    else:
        status, ctype, hl, data = post(url, "/v2/models/%s/infer" % model,
                                       head, None)
    jtext = data if hl is None else data[:hl]
    j = json.loads(jtext)
    res = {"status": status, "content_type": ctype, "header_length": hl}
    if status != 200:
        res["error"] = j.get("error")
        print(json.dumps(res))
        return
    o = j["outputs"][0]
    res.update(id=j.get("id"), name=o["name"], shape=o["shape"],
               datatype=o["datatype"], parameters=o.get("parameters"))
    count = 1
    for d in o["shape"]:
        count *= d
    if "data" in o:
        floats = struct.pack("<%df" % count, *o["data"])
        res["tail_bytes"] = len(data) - (hl if hl is not None else len(data))
    else:
        size = o["parameters"]["binary_data_size"]
        floats = data[hl:hl + size]
        assert size == 4 * count, (size, count)
        res["tail_bytes"] = len(data) - hl - size
    res["bits"] = floats.hex()
    print(json.dumps(res))


def raw(url, model, header_len, bodyfile):
    body = open(bodyfile, "rb").read()
    hl = None if header_len == "-" else header_len
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Content-Type": "application/octet-stream"}
    if hl is not None:
        h["Inference-Header-Content-Length"] = hl
    c.request("POST", "/v2/models/%s/infer" % model, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    try:
        msg = json.loads(data).get("error", "")
    except ValueError:
        msg = "(not JSON)"
    print(r.status, msg)


if __name__ == "__main__":
    if sys.argv[1] == "infer":
        infer(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
              sys.argv[6], sys.argv[7], sys.argv[8], sys.argv[9])
    else:
        raw(*sys.argv[2:6])
