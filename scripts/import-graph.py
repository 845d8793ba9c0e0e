#!/usr/bin/env python3
"""File-level import graph of a Rust source tree (default src/).

An arrow a -> b when a.rs names an item of b.rs: `use crate::..`/`use super::..` (groups too),
inline `crate::..`/`super::..` paths, and paths through names bound to modules (`use x::{m}`,
`mod m;`). Code after `#[cfg(test)] mod name {` and files declared `#[cfg(test)] mod name;` are
left out: test modules may reach into what they test.

Prints the circles (strongly connected components of more than one file) and the largest files.
  --check       exit 1 when there is a circle
  --arrows-up   also list arrows from a file to an ancestor module's own file (a child using
                items its parent defines; parents may declare, re-export and call children)
  -v            print every file's arrows
"""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith('-')]
flags = {a for a in sys.argv[1:] if a.startswith('-')}
root = args[0] if args else 'src'

TEST_BLOCK = re.compile(r'#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{')
TEST_FILE = re.compile(r'#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;')
PATH = re.compile(r'\b(crate|super)((?:::\w+)+)')
GROUP = re.compile(r'\buse\s+(crate|super)((?:::\w+)*)::\{([^;]*)\};', re.S)
MOD_DECL = re.compile(r'\bmod\s+(\w+)\s*;')


def modpath(path):
    """`src/a/b.rs` -> ('a', 'b'); `src/a/mod.rs` -> ('a',); `src/lib.rs` -> ()."""
    parts = os.path.relpath(path, root)[:-3].split(os.sep)
    if parts[-1] in ('mod', 'lib', 'main'):
        parts = parts[:-1]
    return tuple(parts)


texts = {}
for d, _, names in os.walk(root):
    for name in names:
        if name.endswith('.rs'):
            p = os.path.join(d, name)
            texts[p] = re.sub(r'//[^\n]*', '', open(p).read())
bymod = {modpath(p): p for p in texts}

# Files that are test modules of their parent.
test_files = set()
for p, text in texts.items():
    for name in TEST_FILE.findall(text):
        child = bymod.get(modpath(p) + (name,))
        if child:
            test_files.add(child)
files = {p: t for p, t in texts.items() if p not in test_files}


def absolute(me, kind, rest):
    """The module path a `crate::..` or `super::..` path names, from module `me`."""
    segs = [s for s in rest.split('::') if s]
    if kind == 'crate':
        return segs
    base = list(me[:-1])  # `super` is the parent module
    while segs and segs[0] == 'super':
        segs, base = segs[1:], base[:-1]
    return base + segs


def resolve(segs):
    """The file defining the longest module prefix of `segs`."""
    for n in range(len(segs), 0, -1):
        if tuple(segs[:n]) in bymod:
            return bymod[tuple(segs[:n])]
    return None


def targets(path, text):
    cut = TEST_BLOCK.search(text)
    if cut:
        text = text[:cut.start()]
    me = modpath(path)
    found = [absolute(me, m.group(1), m.group(2)) for m in PATH.finditer(text)]
    for m in GROUP.finditer(text):
        base = absolute(me, m.group(1), m.group(2))
        for item in m.group(3).split(','):
            item = item.strip().split(' as ')[0].strip()
            if item and not item.startswith('{'):
                found.append(base + [s for s in item.split('::') if s and s != 'self'])
    # Names bound to modules: `use super::{postgres, ..}` and `mod child;`.
    aliases = {segs[-1]: segs for segs in found if segs and tuple(segs) in bymod}
    for name in MOD_DECL.findall(text):
        aliases[name] = list(me) + [name]
    for name, segs in aliases.items():
        for m in re.finditer(r'(?<![\w:])' + name + r'((?:::\w+)+)', text):
            found.append(segs + [s for s in m.group(1).split('::') if s])
    return {t for t in map(resolve, found) if t and t != path and t in files}


edges = {p: targets(p, t) for p, t in files.items()}

# Tarjan's strongly connected components.
index, low, stack, on, sccs = {}, {}, [], set(), []
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        sccs.append(comp)


for v in sorted(edges):
    if v not in index:
        visit(v)
circles = sorted(sorted(c) for c in sccs if len(c) > 1)
print(f'circles: {len(circles)}')
for c in circles:
    print('  ', ' '.join(c))
    for a in c:
        print('      ', a, '->', ' '.join(sorted(x for x in edges[a] if x in c)))

if '--arrows-up' in flags:
    up = [(a, b) for a in sorted(edges) for b in sorted(edges[a])
          if len(modpath(b)) < len(modpath(a)) and modpath(a)[:len(modpath(b))] == modpath(b)]
    print(f'arrows up (child -> ancestor module file): {len(up)}')
    for a, b in up:
        print('  ', a, '->', b)

if '-v' in flags:
    for a in sorted(edges):
        print(a, '->', ' '.join(sorted(edges[a])))

sizes = sorted((sum(1 for _ in open(p)), p) for p in texts)
print('largest files:', ', '.join(f'{p} {n}' for n, p in reversed(sizes[-5:])))

if '--check' in flags and circles:
    sys.exit(1)
