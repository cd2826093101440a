"""The package's shape: data flows one way (no import circle, type-only and function-level imports
included), the web front never loads the send engine, and the top level holds only the shared base."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "digest"
SEND_ENGINE = ("digest.delivery.worker", "digest.delivery.batch", "digest.delivery.batch_ahead")
# Each package or top-level module, by layer: a unit imports only from units of lower layers (README).
LAYERS = (
    ("errors",),
    ("config", "records", "logs", "metrics", "tokens", "resources"),
    ("schedule", "sources", "rank"),
    ("store",),
    ("mail", "embedding"),
    ("context",),
    ("delivery", "subscribers", "ingest"),
    ("web", "service"),
    ("cli",),
    ("__main__",),
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every digest module `module` imports anywhere in its file (under TYPE_CHECKING and inside functions
    too), and the packages Python initialises on the way to them (`digest.rank` for `digest.rank.index`)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        for target in targets:
            parts = target.split(".")
            for end in range(2, len(parts) + 1):  # the packages on the way, then the module itself
                name = ".".join(parts[:end])
                inside = module == name or module.startswith(name + ".")
                if name in known and not inside:
                    yield name


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    known = set(modules)
    return {name: set(imported(name, path, known)) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph` (strongly connected components of two or more modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_digest_imports_itself_back_through_others() -> None:
    assert circles(import_graph()) == []


def test_the_circle_check_finds_a_circle_through_a_type_only_import() -> None:
    graph = import_graph()
    graph["digest.records"] = {*graph["digest.records"], "digest.rank.ranker"}  # as if records needed it
    assert any({"digest.records", "digest.rank.ranker"} <= set(c) for c in circles(graph))


def test_an_import_inside_type_checking_counts(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from digest.rank.score import x\n"
    )
    found = set(imported("digest.mail.mod", path, {"digest.rank", "digest.rank.score", "digest.mail"}))
    assert found == {"digest.rank", "digest.rank.score"}


def test_building_the_web_app_loads_no_part_of_the_send_engine(tmp_path: Path) -> None:
    # A fresh interpreter: in this one, other tests have imported everything already.
    code = (
        "import sys\n"
        "from digest.config import Settings\n"
        "from digest.context import Context\n"
        "from digest.web import create_app\n"
        f"settings = Settings.model_validate({{'database': {{'url': 'sqlite:///{tmp_path}/web.db'}},"
        " 'web': {'secret_key': 'a-test-key-that-is-long-enough-to-pass'}})\n"
        "create_app(Context.open(settings))\n"
        f"print([m for m in {SEND_ENGINE!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("engine", SEND_ENGINE)
def test_the_send_engine_check_sees_the_engine_when_it_is_loaded(engine: str) -> None:
    code = f"import sys, {engine}\nprint({engine!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: `digest.rank.index` -> `rank`."""
    return module.split(".")[1] if "." in module else module


def layering_breaks(graph: dict[str, set[str]]) -> list[str]:
    layer = {name: level for level, names in enumerate(LAYERS) for name in names}
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if module != "digest" and unit(module) != unit(target) and layer[unit(module)] <= layer[unit(target)]
    )


def test_each_package_imports_only_from_the_layers_below_it() -> None:
    graph = import_graph()
    assert {unit(m) for m in graph if m != "digest"} == {name for names in LAYERS for name in names}
    assert layering_breaks(graph) == []


def test_the_layering_check_finds_an_import_upwards() -> None:
    graph = import_graph()
    graph["digest.store.papers"] = {*graph["digest.store.papers"], "digest.mail.render"}
    assert layering_breaks(graph) == ["digest.store.papers -> digest.mail.render"]


def test_the_top_level_holds_only_the_shared_base() -> None:
    top = sorted(path.stem for path in ROOT.glob("*.py"))
    assert len(top) <= 12, top


def test_every_subpackage_says_what_it_is_for() -> None:
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 8, f"{init.parent.name}/__init__.py needs a docstring"
