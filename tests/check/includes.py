#!/usr/bin/env python3
"""Include-graph rules for lib/ (run by tests/run.sh; python3 stdlib only).

    tests/check/includes.py [ROOT]     ROOT defaults to the repository root

Each lib/ basename is a module: lib/x.c and lib/x.h form module x. Module A
depends on module B when lib/A.c or lib/A.h has #include "B.h" and lib/B.h
exists (quoted includes of lib/ headers; system and <shard/...> includes
are not module edges).

Rule 1, layering: the module graph has no cycle. A cycle means no module of
it can be understood, tested or replaced without the others. On success the
script prints the modules in a topological order, lowest layer first.

Rule 2, client-library containment: the modules in NO_CLIENT_HEADERS must
not see a hiredis or libmemcached header, neither directly nor through the
headers they include. Only the connection backends may; everything above
them stays independent of which client library talks to the servers.
Names listed there that do not exist (yet) are skipped, so the rule can be
written before the refactor that introduces them lands; the script says
which were checked.

Exit status: 0 when both rules hold, 1 when one is broken, 2 on bad usage.
"""

import os
import re
import sys

# Modules that must not include <hiredis/...> or <libmemcached/...>,
# directly or transitively through the lib/ (and include/shard/) headers
# they include.
NO_CLIENT_HEADERS = ["engine", "conn", "server", "request", "topology", "loop"]

# Angle-bracket include prefixes of the client libraries.
CLIENT_HEADER_PREFIXES = ("hiredis/", "libmemcached/")

# The most cycles printed per strongly connected component; a tangle that
# large is one problem, and the component's member list says the rest.
MAX_CYCLES_PER_COMPONENT = 20

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)


def strip_comments(text):
    """Blanks out C comments (keeping newlines) and joins continued lines,
    so that commented-out includes do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" * text.count("\n", i, end) or " ")
            i = end
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            # A string or character literal: copy it whole, so that "/*"
            # inside one does not start a comment.
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out).replace("\\\n", "")


def includes_of(path):
    """[(kind, name)] for each #include in path; kind is '"' or '<'."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    return INCLUDE_RE.findall(text)


class Tree:
    def __init__(self, root):
        self.root = root
        self.lib = os.path.join(root, "lib")
        self.include = os.path.join(root, "include")
        self._cache = {}
        names = sorted(os.listdir(self.lib))
        self.modules = sorted(
            {n[:-2] for n in names if n.endswith((".c", ".h"))}
        )

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def files_of(self, module):
        """lib/module.c and lib/module.h, those that exist."""
        paths = [os.path.join(self.lib, module + ext) for ext in (".c", ".h")]
        return [p for p in paths if os.path.isfile(p)]

    def includes(self, path):
        if path not in self._cache:
            self._cache[path] = includes_of(path)
        return self._cache[path]

    def resolve(self, including, kind, name):
        """The repository file an include names, or None (a system header,
        or a generated one such as <shard/version.h>). Quoted: next to the
        including file, then lib/, then include/ (as the build's -I does);
        angle brackets: include/ only (<shard/...>)."""
        dirs = [self.include]
        if kind == '"':
            dirs = [os.path.dirname(including), self.lib, self.include]
        for d in dirs:
            p = os.path.normpath(os.path.join(d, name))
            if os.path.isfile(p):
                return p
        return None

    def module_graph(self):
        """{module: set of modules it includes the header of}."""
        graph = {m: set() for m in self.modules}
        for m in self.modules:
            for path in self.files_of(m):
                for kind, name in self.includes(path):
                    if kind != '"':
                        continue
                    target = self.resolve(path, kind, name)
                    if target is None or os.path.dirname(target) != self.lib:
                        continue
                    base = os.path.basename(target)
                    if base.endswith(".h") and base[:-2] != m:
                        graph[m].add(base[:-2])
        return graph

    def client_header_paths(self, module):
        """For each hiredis/libmemcached include visible to the module, the
        chain of files that leads to it: [file, file, ..., '<hiredis/x.h>'].
        Follows the headers the module's files include (breadth first, so
        each chain is a shortest one)."""
        found = []
        seen = set()
        queue = [[p] for p in self.files_of(module)]
        seen.update(p[0] for p in queue)
        while queue:
            chain = queue.pop(0)
            path = chain[-1]
            for kind, name in self.includes(path):
                if kind == "<" and name.startswith(CLIENT_HEADER_PREFIXES):
                    found.append(chain + ["<%s>" % name])
                    continue
                target = self.resolve(path, kind, name)
                if target is not None and target not in seen:
                    seen.add(target)
                    queue.append(chain + [target])
        return found


def strongly_connected(graph):
    """Tarjan's algorithm; the components with a cycle, each sorted."""
    index, low, stack, on_stack = {}, {}, [], set()
    comps = []
    counter = [0]

    def visit(v):
        # Recursion depth is bounded by the module count (a few dozen).
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
            if len(comp) > 1 or v in graph[v]:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def elementary_cycles(graph, comp, limit):
    """The simple cycles inside one component, each starting at its
    alphabetically smallest module (so each is listed once), shortest
    first; at most limit of them."""
    members = set(comp)
    cycles = []
    for start in comp:
        # Cycles through start that use only modules after it.
        allowed = {m for m in members if m >= start}
        path = [start]

        def walk(v):
            for w in sorted(graph[v] & allowed):
                if w == start:
                    cycles.append(path + [start])
                elif w not in path:
                    path.append(w)
                    walk(w)
                    path.pop()
                if len(cycles) >= limit * 10:
                    return

        walk(start)
    cycles.sort(key=lambda c: (len(c), c))
    return cycles[:limit]


def layers(graph):
    """Kahn's algorithm on an acyclic graph: [[modules of layer 0], ...],
    layer 0 depending on nothing, each module one layer above the highest
    module it includes."""
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 1 + max((depth(w) for w in graph[v]), default=-1)
        return level[v]

    for v in graph:
        depth(v)
    out = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for v in sorted(graph):
        out[level[v]].append(v)
    return out


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    root = argv[1] if len(argv) == 2 else os.path.join(here, "..", "..")
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "lib")):
        print("includes.py: no lib/ in %s" % root, file=sys.stderr)
        return 2

    tree = Tree(root)
    graph = tree.module_graph()
    ok = True

    # Rule 1: no cycles.
    comps = strongly_connected(graph)
    for comp in comps:
        ok = False
        cycles = elementary_cycles(graph, comp, MAX_CYCLES_PER_COMPONENT)
        for cycle in cycles:
            print("include cycle: " + " -> ".join(cycle))
        print("  (tangled modules: %s)" % ", ".join(comp))
    if comps:
        print("includes: %d modules, %d group(s) of modules include each "
              "other" % (len(graph), len(comps)))
    else:
        print("includes: %d modules, no include cycle" % len(graph))
        order = layers(graph)
        print("topological order, lowest layer first: " +
              " ".join(m for layer in order for m in layer))
        print("layers (each includes only modules of layers below it):")
        for i, layer in enumerate(order):
            print("  %d: %s" % (i, " ".join(layer)))

    # Rule 2: no client-library headers above the connection backends.
    present = [m for m in NO_CLIENT_HEADERS if m in graph]
    absent = [m for m in NO_CLIENT_HEADERS if m not in graph]
    print("client headers (%s): checked %s; not present, skipped: %s" % (
        ", ".join(p.rstrip("/") for p in CLIENT_HEADER_PREFIXES),
        " ".join(present) or "none", " ".join(absent) or "none"))
    for m in present:
        for chain in tree.client_header_paths(m):
            ok = False
            shown = [tree.rel(p) for p in chain[:-1]] + [chain[-1]]
            print("client header in %s: %s" % (m, " -> ".join(shown)))

    print("includes: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
