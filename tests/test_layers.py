"""The package's layers: the policy imports no engine, and no module imports itself back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "slapolicy"
ENGINES = ("ibis", "duckdb", "pandera", "great_expectations")


def _imported_engines(code: str) -> list[str]:
    probe = (f"{code}\nimport sys\n"
             f"print(','.join(m for m in {ENGINES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_importing_the_policy_imports_no_engine() -> None:
    assert _imported_engines("import slapolicy.policy") == []


def test_loading_and_checking_a_policy_imports_no_engine() -> None:
    code = ("from slapolicy.policy.loader import load_policy\n"
            "from slapolicy.clauses import registry\n"
            "doc = load_policy('policies/company-a.yaml')\n"
            "for c in doc.policy.clauses:\n"
            "    kind = registry.get(c.kind)\n"
            "    for spec in kind.checks(c, doc.params_for(c.id)):\n"
            "        kind.threshold(doc.policy, c, doc.params_for(c.id), spec, __import__("
            "'slapolicy.policy.periods', fromlist=['Period']).Period.parse('2020-06', 'month'))")
    assert _imported_engines(code) == []


def test_the_probe_sees_an_engine_when_one_is_imported() -> None:
    assert "ibis" in _imported_engines("import slapolicy.clauses.common")


def test_the_public_api_resolves_lazily() -> None:
    assert _imported_engines("import slapolicy; slapolicy.load_policy") == []
    assert "ibis" in _imported_engines("import slapolicy; slapolicy.audit_period")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    """Every slapolicy import of every module, deferred and type-only ones included.

    Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so a module depends on the
    parent packages of what it imports too (except the root package, whose public names
    are resolved lazily on attribute access and import nothing at import time).
    """
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                found = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in found:
                if target.startswith("slapolicy") and target in modules:
                    targets.add(target)
        for target in list(targets):
            parts = target.split(".")
            targets.update(".".join(parts[:i]) for i in range(2, len(parts))
                           if _is_package(".".join(parts[:i])))
        targets.discard(name)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == "slapolicy" or nxt.startswith(node + "."):
                continue  # the root is lazy; a package may import its own modules
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if state.get(nxt) is None and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_another_that_imports_it_back() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_deferred_cycle() -> None:
    graph = {"slapolicy.a": {"slapolicy.b"}, "slapolicy.b": {"slapolicy.c"},
             "slapolicy.c": {"slapolicy.a"}}
    assert find_cycle(graph) == ["slapolicy.a", "slapolicy.b", "slapolicy.c", "slapolicy.a"]


def test_the_graph_sees_deferred_and_type_only_imports() -> None:
    graph = import_graph()
    # base.py imports AuditContext only under TYPE_CHECKING; run.py imports ibis inside a
    # function, and kinds import slapolicy.clauses.common inside measure().
    assert "slapolicy.engine.context" in graph["slapolicy.clauses.base"]
    assert "slapolicy.clauses.common" in graph["slapolicy.clauses.speed_to_lead"]


def test_the_public_api_lists_every_export() -> None:
    import slapolicy

    assert sorted(slapolicy.__all__) == sorted(slapolicy._EXPORTS)
    for name in slapolicy.__all__:
        assert getattr(slapolicy, name) is not None


def test_the_root_package_imports_nothing_at_import_time() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
           and any((getattr(n, "module", None) or "").startswith("slapolicy") or
                   a.name.startswith("slapolicy") for a in n.names)]
    assert top == []  # its imports sit under TYPE_CHECKING, for type checkers only
