#!/usr/bin/python3
"""readme_walkthrough.py — run the README's walkthrough and compare outputs.

The walkthrough is the text between <!-- walkthrough:begin --> and
<!-- walkthrough:end --> in README.md.  Inside its ```console blocks a line
"$ cmd" is a command; the lines after it are output it must print, in order
(other lines may come between).  "…" in an expected line stands for any text
(key ids, ports, digests and times differ on every run).

The commands run in one bash process, in a scratch directory that has a
`models` link to the repository's models, with the tools of $CBD_BUILD/bin.
A command must exit 0, or 1 when its shown output is a clean negative answer
("not detected", "no attribution").  Prints TAP.
"""
import os
import re
import subprocess
import sys
import tempfile


def parse(readme):
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"<!-- walkthrough:begin -->(.*?)<!-- walkthrough:end -->",
                  text, re.S)
    if not m:
        sys.exit("README.md has no walkthrough markers")
    steps = []
    for block in re.findall(r"```console\n(.*?)```", m.group(1), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append([line[2:], []])
            elif line.strip() and steps:
                steps[-1][1].append(line)
    return steps


def script(steps, build):
    out = ["set +e", "trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for i, (cmd, _) in enumerate(steps):
        cmd = cmd.replace("$PWD/build/bin", build + "/bin")
        out.append(f"echo '@@cmd {i}'")
        if cmd.endswith("&"):
            out.append(f"{cmd[:-1]} >/dev/null 2>&1 &")
            out.append(f"echo '@@rc {i} 0'")
        else:
            out.append(f"{cmd} 2>&1")
            out.append(f"echo \"@@rc {i} $?\"")
    return "\n".join(out) + "\n"


def pattern(expected):
    parts = [re.escape(p) for p in expected.split("…")]
    return re.compile("^" + ".+?".join(parts) + "$")


def check(steps, output):
    outs, rcs, cur = {}, {}, None
    for line in output.splitlines():
        m = re.match(r"^@@cmd (\d+)$", line)
        r = re.match(r"^@@rc (\d+) (\d+)$", line)
        if m:
            cur = int(m.group(1))
            outs[cur] = []
        elif r:
            rcs[int(r.group(1))] = int(r.group(2))
        elif cur is not None:
            outs[cur].append(line)
    failed = 0
    for i, (cmd, expected) in enumerate(steps):
        problems = []
        negative = any("not detected" in e or "no attribution" in e
                       for e in expected)
        rc = rcs.get(i)
        if rc is None:
            problems.append("did not run")
        elif rc != 0 and not (negative and rc == 1):
            problems.append(f"exit status {rc}")
        got = outs.get(i, [])
        k = 0
        for e in expected:
            pat = pattern(e)
            while k < len(got) and not pat.match(got[k]):
                k += 1
            if k == len(got):
                problems.append(f"expected line not printed: {e}")
                break
            k += 1
        if problems:
            failed += 1
            print(f"not ok {i + 1} - $ {cmd}")
            for p in problems:
                print(f"# {p}")
            for g in got[:20]:
                print(f"#   | {g}")
        else:
            print(f"ok {i + 1} - $ {cmd}")
    return failed


def main():
    top = os.environ.get("CBD_TOP", os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    build = os.environ.get("CBD_BUILD", os.path.join(top, "build"))
    steps = parse(os.path.join(top, "README.md"))
    print(f"1..{len(steps)}")
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(top, "models"), os.path.join(tmp, "models"))
        res = subprocess.run(["bash", "-c", script(steps, build)], cwd=tmp,
                             capture_output=True, text=True, timeout=600)
        failed = check(steps, res.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
