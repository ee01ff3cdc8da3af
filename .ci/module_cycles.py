#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a circle.

For each crate of the workspace (the root package's `src/` and every `crates/*/src/`), reads
the paths each module names through `crate::`, `super::` and `self::` (in `use` trees and in
code), leaving out comments and `#[cfg(test)]` test modules, and turns each into an edge between
two sibling modules: `a::b` using `a::c::X` is the edge `a::b -> a::c`. A strongly connected set
of two or more modules is a circle: each is printed with its edges, and the exit status is 1.

Usage: python3 .ci/module_cycles.py [WORKSPACE_DIR]
(`.ci/fixtures/module_cycle` is a crate with a circle, which it must find.)
"""

import os
import re
import sys


def crate_roots(workspace):
    yield "streamkinect2", os.path.join(workspace, "src")
    crates = os.path.join(workspace, "crates")
    for name in sorted(os.listdir(crates)) if os.path.isdir(crates) else []:
        src = os.path.join(crates, name, "src")
        if os.path.isdir(src):
            yield name, src


def module_of(src, path):
    """The module path of a source file, or None for binaries (crate roots of their own)."""
    parts = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if parts[0] == "bin" or parts == ["main"]:
        return None
    if parts == ["lib"]:
        return []
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def without_tests_and_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # A test module declared inline: drop from its attribute to the end of its braces.
    out, at = [], 0
    for match in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if match.start() < at:
            continue
        out.append(text[at : match.start()])
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        at = i
    out.append(text[at:])
    return "".join(out)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> [[a, b], [a, c, d], [a, c, e]] (renames and globs kept as segments)."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        segments = [segment.strip() for segment in tree.split("::") if segment.strip()]
        return [[segment.split(" as ")[0].strip() for segment in segments]]
    prefix = [segment.strip() for segment in tree[:brace].split("::") if segment.strip()]
    inner = tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    paths = []
    for item in items:
        if item.strip():
            paths.extend(prefix + rest for rest in expand_use_tree(item))
    return paths


def resolve(module, path):
    """The absolute module path `path` (starting with crate/super/self) names from `module`."""
    if not path or path[0] not in ("crate", "super", "self"):
        return None
    base, rest = (list(module), path)
    if rest[0] == "crate":
        base, rest = [], rest[1:]
    while rest and rest[0] in ("super", "self"):
        if rest[0] == "super":
            base = base[:-1]
        rest = rest[1:]
    return base + rest


def named_paths(module, text):
    paths = []
    for statement in re.finditer(r"\buse\s+([^;]+);", text):
        for path in expand_use_tree(statement.group(1)):
            paths.append(resolve(module, path))
    code = re.sub(r"\buse\s+[^;]+;", "", text)
    for match in re.finditer(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+", code):
        paths.append(resolve(module, match.group(0).split("::")))
    return [path for path in paths if path]


def sibling_edge(module, target, modules):
    common = 0
    while common < min(len(module), len(target)) and module[common] == target[common]:
        common += 1
    if common >= len(module) or common >= len(target):
        return None  # a module using its own ancestor or descendant
    a, b = "::".join(module[: common + 1]), "::".join(target[: common + 1])
    return (a, b) if a in modules and b in modules else None


def circles(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for next_node in sorted(graph.get(node, ())):
            if next_node not in index:
                visit(next_node)
                low[node] = min(low[node], low[next_node])
            elif next_node in on_stack:
                low[node] = min(low[node], index[next_node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main():
    workspace = sys.argv[1] if len(sys.argv) > 1 else "."
    sys.setrecursionlimit(10000)
    failed = False
    for crate, src in crate_roots(workspace):
        files = {}
        for directory, _, names in os.walk(src):
            for name in names:
                if name.endswith(".rs"):
                    module = module_of(src, os.path.join(directory, name))
                    if module is not None:
                        files[os.path.join(directory, name)] = module
        modules = {"::".join(m[: i + 1]) for m in files.values() for i in range(len(m))}
        edges = set()
        for path, module in files.items():
            with open(path, encoding="utf-8") as source:
                text = without_tests_and_comments(source.read())
            for target in named_paths(module, text):
                edge = sibling_edge(module, target, modules)
                if edge:
                    edges.add(edge)
        for component in circles(edges):
            failed = True
            print(f"{crate}: modules import each other in a circle: {', '.join(component)}")
            for a, b in sorted(edges):
                if a in component and b in component:
                    print(f"    {a} uses {b}")
    if not failed:
        print("no module import circles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
