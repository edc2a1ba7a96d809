"""Fail when a module import cycle appears in Spectral's packages (``make lint`` runs this).

import-linter checks who may import whom; it has no contract for "no cycles between modules"
(``acyclic_siblings`` compares sibling packages as wholes). This builds the import graph of every
package with grimp, import-linter's own graph library, and names each cycle as a chain of modules
with the line of each import. Imports inside functions count, as they do for import-linter;
imports under ``if TYPE_CHECKING:`` do not, because they never run.

Usage: ``python tools/check_import_cycles.py [PACKAGE ...]`` (all of Spectral's by default).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import grimp
from grimp import ImportGraph

PACKAGES = (
    "spectral_shared",
    "spectral_auth",
    "spectral_governance",
    "spectral_audit",
    "spectral_billing",
    "spectral_reports",
    "spectral_gateway",
)

Cycle = tuple[str, ...]  # modules in import order; the last imports the first


def build_graph(packages: Iterable[str]) -> ImportGraph:
    return grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)


def _imported_by(graph: ImportGraph, module: str) -> Iterator[str]:
    return iter(sorted(graph.find_modules_directly_imported_by(module)))


def _strongly_connected(graph: ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm, iterative; only the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, _imported_by(graph, root))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, _imported_by(graph, other)))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def _shortest_path(graph: ImportGraph, start: str, goal: str, within: set[str]) -> list[str]:
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        if module == goal:
            path = [module]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for other in sorted(graph.find_modules_directly_imported_by(module) & within):
            if other not in previous:
                previous[other] = module
                queue.append(other)
    raise AssertionError(f"{goal} is not reachable from {start} inside its component")


def _rotated(cycle: Sequence[str]) -> Cycle:
    """The same cycle starting at its smallest module name, so each is reported once."""
    first = cycle.index(min(cycle))
    return tuple(cycle[first:]) + tuple(cycle[:first])


def find_cycles(graph: ImportGraph) -> list[Cycle]:
    """Every import that takes part in a cycle, with the shortest chain that closes it."""
    cycles: set[Cycle] = set()
    for component in _strongly_connected(graph):
        for importer in component:
            for imported in graph.find_modules_directly_imported_by(importer) & component:
                back = _shortest_path(graph, imported, importer, component)
                cycles.add(_rotated([importer, *back[:-1]]))
    return sorted(cycles, key=lambda cycle: (len(cycle), cycle))


def _line(graph: ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = sorted(detail["line_number"] for detail in details)
    return f"line {', '.join(map(str, lines))}" if lines else "line ?"


def describe(graph: ImportGraph, cycle: Cycle) -> str:
    chain = " -> ".join([*cycle, cycle[0]])
    steps = [
        f"    {importer} imports {imported} ({_line(graph, importer, imported)})"
        for importer, imported in zip(cycle, [*cycle[1:], cycle[0]], strict=True)
    ]
    return "\n".join([chain, *steps])


def main(argv: Sequence[str] | None = None) -> int:
    packages = list(argv if argv is not None else sys.argv[1:]) or list(PACKAGES)
    graph = build_graph(packages)
    cycles = find_cycles(graph)
    if not cycles:
        print(f"No import cycles in {', '.join(packages)}.")
        return 0
    print(f"{len(cycles)} import cycle(s); move what both sides need to where it belongs:")
    for cycle in cycles:
        print(describe(graph, cycle))
    return 1


if __name__ == "__main__":
    sys.exit(main())
