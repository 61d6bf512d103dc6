#!/usr/bin/python3
"""check-modules.py — check lib/ and bin/ against the module map.

docs/MODULES.md holds a table: one row per module of libcbd with its files,
its header, the modules whose headers it may include and the modules whose
symbols it may reference.  This script checks the tree against that table:

  - every folder of lib/ is a row and every row (except generated code) is
    a folder; no source file lies directly in lib/;
  - a module's files are exactly the files its row lists (unless the row
    says `*`), and its only header is the row's header;
  - every `#include "..."` of lib/ and bin/ resolves (relative to the
    including file, then include/) to cbd.h, a file of the same module, or
    the header of a module the row allows; bin/ may include cbd.h and bin/'s
    own headers only; nothing includes a .c file;
  - with --objects BUILD, every symbol a module's objects reference that is
    defined by another module's objects belongs to a module of its "calls"
    column (read with nm from BUILD/obj/lib/<module>/*.o);
  - the union of both columns is acyclic;
  - a name a row allows but the code does not use is noted, not an error.

Usage: check-modules.py [--root DIR] [--objects BUILD]
Prints one line per problem ("check-modules: FILE:LINE: ...") and exits 1 if
there is any; otherwise prints a one-line summary and exits 0.
"""

import argparse
import os
import re
import subprocess
import sys

MAP = "docs/MODULES.md"
NONE = {"", "—", "-"}


def parse_map(root, errors):
    """Rows of the module table: name -> dict(files, header, inc, calls)."""
    path = os.path.join(root, MAP)
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        errors.append(f"{MAP}: cannot read: {e.strerror}")
        return {}
    rows, order, in_table = {}, [], False
    for n, line in enumerate(text.splitlines(), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| module |"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            break
        if set(line) <= set("|-: "):
            continue
        if len(cells) != 6:
            errors.append(f"{MAP}:{n}: a row needs 6 cells, has {len(cells)}")
            continue
        name = cells[0].strip("`")
        ticked = lambda c: [] if c in NONE else re.findall(r"`([^`]+)`", c)
        files = cells[2]
        row = {
            "line": n,
            "generated": files.startswith("(generated"),
            "any": files == "`*`" or files.startswith("`*`"),
            "files": set(ticked(files)),
            "header": None if cells[3] in NONE else cells[3].strip("`"),
            "inc": ticked(cells[4]),
            "calls": ticked(cells[5]),
        }
        if name in rows:
            errors.append(f"{MAP}:{n}: module {name} listed twice")
        rows[name] = row
        order.append(name)
    if not rows:
        errors.append(f"{MAP}: no module table (a header row '| module |')")
    for name, r in rows.items():
        for dep in r["inc"] + r["calls"]:
            if dep not in rows:
                errors.append(f"{MAP}:{r['line']}: {name} names unknown "
                              f"module {dep}")
    return rows


def lib_layout(root, rows, errors):
    """Check folders and file lists; return {path: module} of lib/."""
    owner = {}
    lib = os.path.join(root, "lib")
    for entry in sorted(os.listdir(lib)):
        full = os.path.join(lib, entry)
        if not os.path.isdir(full):
            errors.append(f"lib/{entry}: a file outside any module folder "
                          f"(rule 1 of {MAP})")
            continue
        r = rows.get(entry)
        if r is None or r["generated"]:
            errors.append(f"lib/{entry}/: a folder with no row in {MAP}")
            continue
        present = set()
        for dirpath, _, names in os.walk(full):
            for f in names:
                rel = os.path.relpath(os.path.join(dirpath, f), full)
                present.add(rel)
                owner[os.path.join("lib", entry, rel)] = entry
        if r["any"]:
            continue
        for f in sorted(present - r["files"]):
            errors.append(f"lib/{entry}/{f}: not listed in {entry}'s row "
                          f"of {MAP}")
        for f in sorted(r["files"] - present):
            errors.append(f"{MAP}:{r['line']}: lists lib/{entry}/{f}, "
                          f"which does not exist")
        for f in sorted(present):
            if f.endswith(".h") and f != r["header"]:
                errors.append(f"lib/{entry}/{f}: a second header; a module "
                              f"has one, {entry}_internal.h (rule 2)")
        if r["header"] and r["header"] != f"{entry}_internal.h":
            errors.append(f"{MAP}:{r['line']}: {entry}'s header must be "
                          f"{entry}_internal.h")
    for name, r in rows.items():
        if not r["generated"] and not os.path.isdir(os.path.join(lib, name)):
            errors.append(f"{MAP}:{r['line']}: module {name} has no folder "
                          f"lib/{name}/")
    return owner


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def sources(root, top):
    out = []
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for f in names:
            if f.endswith((".c", ".h", ".def")):
                out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(out)


def resolve(root, src, inc):
    """Path (relative to root) the compiler would open, or None."""
    for base in (os.path.dirname(src), "include"):
        cand = os.path.normpath(os.path.join(base, inc))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def check_includes(root, rows, owner, errors, used):
    gen = {r["header"]: n for n, r in rows.items() if r["generated"]}
    count = 0
    for src in sources(root, "lib") + sources(root, "bin"):
        mod = owner.get(src) if src.startswith("lib/") else "bin"
        for n, line in enumerate(open(os.path.join(root, src),
                                      encoding="utf-8",
                                      errors="replace"), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            count += 1
            inc, where = m.group(1), f"{src}:{n}"
            path = resolve(root, src, inc)
            if path is None and inc in gen:
                target, base = gen[inc], inc
            elif path is None:
                errors.append(f"{where}: cannot resolve \"{inc}\" (relative "
                              f"to the file or include/)")
                continue
            elif path == "include/cbd.h":
                continue
            elif path.endswith(".c"):
                errors.append(f"{where}: includes a .c file ({path})")
                continue
            elif mod == "bin":
                if not path.startswith("bin/"):
                    errors.append(f"{where}: a tool includes {path}; tools "
                                  f"include only cbd.h and bin/ headers "
                                  f"(rule 6 of {MAP})")
                continue
            elif not path.startswith("lib/"):
                errors.append(f"{where}: includes {path}, outside lib/")
                continue
            else:
                target, base = owner.get(path), os.path.basename(path)
            if target == mod or mod is None:
                continue
            used.add((mod, target))
            r = rows[mod]
            if target not in r["inc"]:
                errors.append(f"{where}: {mod} includes \"{inc}\" of module "
                              f"{target}, not in {mod}'s includes column of "
                              f"{MAP}")
            elif base != rows[target]["header"]:
                errors.append(f"{where}: {mod} includes {base}, which is "
                              f"not {target}'s header "
                              f"({rows[target]['header']})")
    return count


def nm(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True)
    if out.returncode != 0:
        raise OSError(out.stderr.strip())
    defined, undefined = set(), set()
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDRBCWVG":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            undefined.add(f[1])
    return defined, undefined


def check_calls(root, build, rows, owner, errors, used):
    objs = {}
    for src, mod in owner.items():
        if src.endswith(".c"):
            objs[os.path.join(build, "obj", src[:-2] + ".o")] = mod
    for name, r in rows.items():
        if r["generated"] and r["header"]:
            stem = r["header"][:-2]
            objs[os.path.join(build, "obj", "gen", stem + ".o")] = name
    defs, uses = {}, {}
    for obj, mod in sorted(objs.items()):
        try:
            d, u = nm(obj)
        except OSError as e:
            errors.append(f"{obj}: cannot read symbols ({e}); build first")
            continue
        for s in d:
            defs[s] = mod
        uses.setdefault(mod, {})
        for s in u:
            uses[mod].setdefault(s, obj)
    nsyms, bad = 0, {}
    for mod, syms in sorted(uses.items()):
        for s, obj in sorted(syms.items()):
            target = defs.get(s)
            if target is None or target == mod:
                continue
            nsyms += 1
            used.add((mod, target))
            if target not in rows[mod]["calls"]:
                bad.setdefault((mod, target), []).append((obj, s))
    for (mod, target), hits in sorted(bad.items()):
        objs = sorted({o for o, _ in hits})
        names = ", ".join(s for _, s in hits[:4])
        more = f" and {len(hits) - 4} more" if len(hits) > 4 else ""
        errors.append(f"{objs[0]}: {mod} uses {names}{more} of module "
                      f"{target}, not in {mod}'s calls column of {MAP}")
    return nsyms


def check_acyclic(rows, errors):
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in rows[m]["inc"] + rows[m]["calls"]:
            if d == m or d not in rows:
                continue
            if state.get(d) == 1:
                cyc = path[path.index(d):] + [d]
                cycles.append(f"{MAP}: dependency cycle "
                              f"{' -> '.join(cyc)}")
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    cycles = []
    for m in rows:
        if m not in state:
            visit(m, [m])
    errors.extend(cycles[:1])   # one is enough to act on


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".")
    ap.add_argument("--objects", metavar="BUILD")
    a = ap.parse_args()
    errors = []
    rows = parse_map(a.root, errors)
    if not rows:
        print("\n".join(f"check-modules: {e}" for e in errors))
        return 1
    owner = lib_layout(a.root, rows, errors)
    inc_used, call_used = set(), set()
    nincs = check_includes(a.root, rows, owner, errors, inc_used)
    nsyms = 0
    if a.objects:
        nsyms = check_calls(a.root, a.objects, rows, owner, errors,
                            call_used)
    check_acyclic(rows, errors)
    for name, r in rows.items():
        for d in r["inc"]:
            if (name, d) not in inc_used:
                print(f"check-modules: note: {name} may include {d} but "
                      f"does not ({MAP}:{r['line']})")
        for d in r["calls"] if a.objects else []:
            if (name, d) not in call_used:
                print(f"check-modules: note: {name} may call {d} but "
                      f"does not ({MAP}:{r['line']})")
    for e in errors:
        print(f"check-modules: {e}")
    if errors:
        print(f"check-modules: {len(errors)} problem(s); the map is {MAP}")
        return 1
    print(f"check-modules: {len(rows)} modules, {len(owner)} files, "
          f"{nincs} includes" +
          (f", {nsyms} cross-module symbol uses" if a.objects else "") +
          " follow " + MAP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
