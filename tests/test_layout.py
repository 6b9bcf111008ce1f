"""The shape of the code stays what the README's Layout section says: stages in order, no circles.

Read from the source with `ast` (every import, including those inside functions and under
TYPE_CHECKING, because a circle in the types is still a circle for the reader), so nothing is
imported and nothing can hide behind a lazy import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A stage may import its own modules and those of lower stages, never a higher one; two stages of
# one rank (the locustfiles and analysis both read the harness) know nothing of each other.
STAGE_RANK = {"deploy": 0, "harness": 1, "locustfiles": 2, "analysis": 2, "turnbench": 3}
# analysis reads files with pandas; it must never pull in Locust (or gevent's monkey-patching).
LOAD_GENERATOR_LIBRARIES = frozenset({"locust", "gevent", "geventhttpclient", "flask"})
MAX_MODULES_PER_FOLDER = 12
MAX_MODULE_LINES = 400


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_sources(root: Path = ROOT) -> dict[str, str]:
    """Every module of the stages (not tests), by dotted name."""
    return {
        module_name(path, root): path.read_text()
        for stage in STAGE_RANK
        for path in sorted((root / stage).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def imports_of(source: str) -> set[str]:
    """Every absolute module name `source` imports, `from a.b import c` counted as a.b and a.b.c."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def internal_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """module -> the project's modules it imports (packages count as their __init__ module)."""
    return {
        module: {name for name in imports_of(source) if name in sources and name != module}
        for module, source in sources.items()
    }


def node_of(module: str, sources: Mapping[str, str]) -> str:
    """The unit whose circles the reader sees: a subpackage, or a module at a stage's root."""
    parent = module.rpartition(".")[0]
    is_package = f"{module}.__init__" in sources or any(m.startswith(f"{module}.") for m in sources)
    return module if is_package or "." not in parent else parent


def package_graph(graph: Mapping[str, set[str]], sources: Mapping[str, str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        a = node_of(module, sources)
        for target in targets:
            b = node_of(target, sources)
            # A package's own __init__ importing its children is not an arrow between units.
            if a != b and not b.startswith(f"{a}."):
                edges.setdefault(a, set()).add(b)
    return edges


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One circle in the graph (as a path that ends where it began), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def back_arrows(graph: Mapping[str, set[str]]) -> list[str]:
    """Imports from a stage into a higher one, or between two stages of the same rank."""
    wrong = []
    for module, targets in sorted(graph.items()):
        stage = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != stage and STAGE_RANK[other] >= STAGE_RANK[stage]:
                wrong.append(f"{module} -> {target}")
    return wrong


def load_generator_imports(sources: Mapping[str, str], graph: Mapping[str, set[str]], stage: str) -> list[str]:
    """Modules of `stage` that import Locust or gevent, directly or through the project's modules."""
    wrong = []
    for module in sorted(m for m in sources if m.split(".")[0] == stage):
        seen, todo = set(), [module]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(graph[current])
            parents = {current.rsplit(".", i)[0] for i in range(current.count("."))}
            todo.extend(p for p in parents if p in sources)
            for name in imports_of(sources[current]):
                if name.split(".")[0] in LOAD_GENERATOR_LIBRARIES:
                    wrong.append(f"{module} (through {current}) imports {name}")
    return sorted(set(wrong))


def problems(sources: Mapping[str, str]) -> list[str]:
    graph = internal_graph(sources)
    found = [f"back-arrow: {arrow}" for arrow in back_arrows(graph)]
    if cycle := find_cycle(graph):
        found.append("module circle: " + " -> ".join(cycle))
    if cycle := find_cycle(package_graph(graph, sources)):
        found.append("package circle: " + " -> ".join(cycle))
    found += [f"analysis imports the load generator: {w}" for w in load_generator_imports(sources, graph, "analysis")]
    return found


def test_the_stages_import_downward_only_and_nothing_imports_in_a_circle() -> None:
    assert problems(read_sources()) == []


@pytest.mark.parametrize(
    ("module", "added", "expected"),
    [
        ("deploy.targets", "from harness.client.measurement import percentile", "back-arrow: deploy.targets"),
        ("harness.client.sse", "import analysis.errors", "back-arrow: harness.client.sse"),
        ("analysis.errors", "from locustfiles import shapes", "back-arrow: analysis.errors"),
        ("harness.client.measurement", "from harness.client import chat_client", "module circle"),
        ("harness.scenario.conversation", "from harness.plugin.options import add_options", "package circle"),
        ("analysis.formats", "from harness.plugin import options", "analysis imports the load generator"),
    ],
)
def test_the_check_finds_a_back_arrow_a_circle_and_locust_in_analysis(module: str, added: str, expected: str) -> None:
    sources = read_sources()
    assert module in sources
    broken = {**sources, module: sources[module] + f"\n\ndef _added() -> None:\n    {added}\n"}
    assert any(problem.startswith(expected) for problem in problems(broken)), problems(broken)


def test_folders_and_modules_stay_small_enough_to_read() -> None:
    folders: dict[Path, int] = {}
    long_modules = []
    for stage in STAGE_RANK:
        for path in (ROOT / stage).rglob("*.py"):
            if path.name != "__init__.py":
                folders[path.parent] = folders.get(path.parent, 0) + 1
            if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES:
                long_modules.append(f"{path.relative_to(ROOT)}: {lines} lines")
    crowded = [f"{p.relative_to(ROOT)}: {n} modules" for p, n in folders.items() if n > MAX_MODULES_PER_FOLDER]
    assert crowded == []
    assert long_modules == []


def test_every_subpackage_says_what_lives_there_and_what_it_may_import() -> None:
    missing = []
    for stage in STAGE_RANK:
        for init in (ROOT / stage).rglob("__init__.py"):
            doc = ast.get_docstring(ast.parse(init.read_text())) or ""
            if "import" not in doc.lower():
                missing.append(str(init.relative_to(ROOT)))
    assert missing == []
