#!/usr/bin/env python3
"""Checks the layering of src/ (docs/architecture.md): every #include "dir/..." in a library's
folder must name a library that this library links (PUBLIC or PRIVATE), or one those export
(PUBLIC), transitively. Test files (*_test.cc) may use more and are skipped. In a folder with
more than one target, a .cc file is checked against the target that compiles it.

Usage: layering_test.py SOURCE_DIR
"""
import os
import re
import sys

src = os.path.join(sys.argv[1], "src")
folder_of = {}   # target -> folder (relative to src)
deps = {}        # target -> {"PUBLIC": [...], "PRIVATE": [...]}
sources_of = {}  # target -> names of the .cc files it compiles
for root, _, files in os.walk(src):
    if "CMakeLists.txt" not in files:
        continue
    text = open(os.path.join(root, "CMakeLists.txt")).read()
    text = re.sub(r"#.*", "", text)
    rel = os.path.relpath(root, src)
    for m in re.finditer(r"add_(?:library|executable)\((\w+)([^)]*)\)", text):
        folder_of[m.group(1)] = rel
        sources_of[m.group(1)] = {os.path.basename(w) for w in m.group(2).split()
                                  if w.endswith(".cc")}
    for m in re.finditer(r"target_link_libraries\((\w+)([^)]*)\)", text):
        target, words = m.group(1), m.group(2).split()
        scope = "PRIVATE"
        d = deps.setdefault(target, {"PUBLIC": [], "PRIVATE": []})
        for w in words:
            if w in ("PUBLIC", "PRIVATE", "INTERFACE"):
                scope = "PUBLIC" if w != "PRIVATE" else "PRIVATE"
            else:
                d[scope].append(w)

# Only the project's libraries take part (not tests, not external targets).
libs = {t: f for t, f in folder_of.items() if not t.endswith("_test")}
target_of_folder = {f: t for t, f in libs.items()}


def exported(target, seen=None):
    """Targets whose headers `target` makes visible to its users."""
    seen = seen or set()
    out = {target}
    for d in deps.get(target, {}).get("PUBLIC", []):
        if d in libs and d not in seen:
            seen.add(d)
            out |= exported(d, seen)
    return out


def visible(target):
    out = {target}
    d = deps.get(target, {})
    for dep in d.get("PUBLIC", []) + d.get("PRIVATE", []):
        if dep in libs:
            out |= exported(dep)
    return out


def owner(include):
    """The library folder an include path belongs to (longest matching folder)."""
    best = None
    for f in target_of_folder:
        if include.startswith(f + "/") and (best is None or len(f) > len(best)):
            best = f
    return best


errors = []
for target, folder in libs.items():
    allowed = {libs[t] for t in visible(target)}
    for root, _, files in os.walk(os.path.join(src, folder)):
        if root != os.path.join(src, folder) and os.path.relpath(root, src) in target_of_folder:
            continue  # a sub-folder that is its own library
        for name in files:
            if not name.endswith((".h", ".cc")) or name.endswith("_test.cc"):
                continue
            # A folder with two targets (app: a library and the executable): a .cc
            # file is checked against the target that compiles it.
            if name.endswith(".cc") and name not in sources_of.get(target, ()) and any(
                    name in sources_of.get(t, ()) for t, f in libs.items() if f == folder):
                continue
            path = os.path.join(root, name)
            for n, line in enumerate(open(path), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                f = owner(m.group(1))
                if f is not None and f not in allowed:
                    errors.append(f"{os.path.relpath(path, sys.argv[1])}:{n}: includes "
                                  f"\"{m.group(1)}\" but {target} does not link "
                                  f"{target_of_folder[f]}")

if len(libs) < 3:
    errors.append(f"found only {len(libs)} libraries under {src}: parsing is broken")
for e in errors:
    print(e)
print(f"layering: {len(libs)} libraries checked, {len(errors)} violations")
sys.exit(1 if errors else 0)
