#!/usr/bin/env python3
"""The engine's module graph: which source file uses which, and its cycles.

Reads every `.rs` file under a crate's `src/` (default `engine/src`), finds
the crate paths it names (`use crate::a::b`, grouped `use crate::{a, b::c}`,
inline `crate::a::B`, `super::`), resolves each to the file that defines
that module, and prints the strongly connected components of more than one
file: each one is an import cycle. Declaring a child module (`mod x;`) is
not a use; test code (`#[cfg(test)]` and the `*tests*` files) is left out,
since a test may reach across layers without making them depend on each
other.

    python3 scripts/module-graph.py                 # cycles, exit 1 if any
    python3 scripts/module-graph.py --edges         # every edge as well
    python3 scripts/module-graph.py --depth 1       # top-level modules (a
                                                    # folder is one module)
    python3 scripts/module-graph.py --max-cycle N   # CI ratchet: exit 1 only
                                                    # if a cycle exceeds N

Plain Python 3, no packages: anyone can run it, CI runs it.
"""

import argparse
import os
import re
import sys

USE_RE = re.compile(r"\buse\s+([\w:{][^;]*);", re.S)
INLINE_RE = re.compile(r"\b((?:crate|super)(?:::(?:super|\w+))+)")


def module_of(path, src):
    """`src/a/b.rs` and `src/a/b/mod.rs` -> ("a", "b"); lib/main -> ()."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def is_test_file(path):
    name = os.path.basename(path)
    return "tests" in path.split(os.sep) or name.endswith("tests.rs")


def strip_tests_and_comments(text):
    """Drops `//` comments and everything from the first `#[cfg(test)]`
    (by convention the test module closes each file)."""
    # A test module declared in its own file (`#[cfg(test)] mod x;`) can
    # come before the imports: drop the declaration, not the rest.
    text = re.sub(r"#\[cfg\(test\)\]\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+\w+\s*;", "", text)
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    return re.sub(r"//[^\n]*", "", text)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"::\*$|as\w+$", "", tree)]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    out = []
    for part in filter(None, parts):
        if part == "self":
            out.append(prefix.rstrip(":"))
        else:
            out.extend(expand_use_tree(prefix + part))
    return out


def absolute(path, here):
    """Resolves `crate::`/`super::`/`self::` against module `here`."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs.pop(0) == "super" and base:
                base.pop()
    else:
        # A 2018-edition relative path: a child module (`pub use session::X`
        # in mqtt/mod.rs); external crates resolve to nothing.
        base = list(here)
    return tuple(base + segs)


def resolve(path, modules):
    """The longest prefix of `path` that is a module file."""
    for n in range(len(path), -1, -1):
        if path[:n] in modules:
            return path[:n]
    return None


def build_graph(src):
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                if not is_test_file(path):
                    files[module_of(path, src)] = path
    graph = {m: set() for m in files}
    for module, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = strip_tests_and_comments(f.read())
        names = []
        for tree in USE_RE.findall(text):
            names.extend(expand_use_tree(tree))
        names.extend(INLINE_RE.findall(text))
        for name in names:
            # `super::` in `a/b.rs` (module a::b) and in `a/b/mod.rs` alike
            # means module `a`.
            target = absolute(name, module)
            target = target and resolve(target, files)
            if target is not None and target != module and target != ():
                graph[module].add(target)
    return files, graph


def collapse(files, graph, depth):
    """The graph of modules cut to `depth` segments: `mqtt::fanout` and
    `mqtt::session` are both `mqtt` at depth 1."""
    cut = lambda m: m[:depth]
    out = {cut(m): set() for m in files}
    for m, targets in graph.items():
        out[cut(m)].update(cut(t) for t in targets if cut(t) != cut(m))
    return {m: m for m in out}, out


def cycles(graph):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default="engine/src")
    ap.add_argument("--edges", action="store_true")
    ap.add_argument("--max-cycle", type=int, default=0)
    ap.add_argument("--depth", type=int, default=0,
                    help="collapse modules to their first N path segments "
                         "(1: top-level modules, a folder counts as one); 0: files")
    args = ap.parse_args()
    files, graph = build_graph(args.src)
    name = lambda m: os.path.relpath(files[m], args.src)
    if args.depth:
        files, graph = collapse(files, graph, args.depth)
        name = lambda m: "::".join(m) or "crate"
    if args.edges:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{name(m)} -> {name(t)}")
    found = cycles(graph)
    for comp in found:
        print(f"cycle of {len(comp)}: " + ", ".join(name(m) for m in comp))
    largest = max((len(c) for c in found), default=0)
    unit = f"modules (depth {args.depth})" if args.depth else "files"
    print(f"{len(files)} {unit}, {sum(map(len, graph.values()))} edges, "
          f"{len(found)} cycles, the largest of {largest}")
    if largest > args.max_cycle:
        sys.exit(1)


if __name__ == "__main__":
    main()
