"""tools/check_import_cycles.py, which ``make lint`` runs: it names every cycle, counts imports
inside functions and leaves out those under ``if TYPE_CHECKING:``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_import_cycles.py"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_import_cycles", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _package(root: Path, name: str, modules: dict[str, str]) -> str:
    """A package ``name`` under ``root`` with one module per entry (its source)."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)
    return name


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_clean_package_passes(packages: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = _package(
        packages,
        "clean_pkg",
        {
            "low": "X = 1\n",
            "high": "from clean_pkg.low import X\n",
            # A back reference only for annotations never runs, so it is no cycle.
            "typed": "from typing import TYPE_CHECKING\n"
            "from clean_pkg import high\n"
            "if TYPE_CHECKING:\n"
            "    from clean_pkg import typed\n",
        },
    )
    assert tool.main([name]) == 0
    assert "No import cycles in clean_pkg." in capsys.readouterr().out


def test_every_cycle_is_named_with_its_chain_and_lines(
    packages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _package(
        packages,
        "tangled_pkg",
        {
            # A two-module cycle through an import inside a function...
            "commands": "import click\n\n\ndef run():\n    from tangled_pkg.component import c\n",
            "component": "from tangled_pkg.commands import run\nc = run\n",
            # ...and a three-module one, hidden behind no two-module pair.
            "a": "from tangled_pkg import b\n",
            "b": "from tangled_pkg import c\n",
            "c": "\n\nfrom tangled_pkg import a\n",
            "bystander": "from tangled_pkg import a\n",
        },
    )
    graph = tool.build_graph([name])
    assert tool.find_cycles(graph) == [
        ("tangled_pkg.commands", "tangled_pkg.component"),
        ("tangled_pkg.a", "tangled_pkg.b", "tangled_pkg.c"),
    ]

    assert tool.main([name]) == 1
    out = capsys.readouterr().out
    assert "2 import cycle(s)" in out
    assert "tangled_pkg.commands -> tangled_pkg.component -> tangled_pkg.commands" in out
    assert "tangled_pkg.commands imports tangled_pkg.component (line 5)" in out
    assert "tangled_pkg.a -> tangled_pkg.b -> tangled_pkg.c -> tangled_pkg.a" in out
    assert "tangled_pkg.c imports tangled_pkg.a (line 3)" in out
    assert "bystander" not in out


def test_each_import_in_a_tangle_is_shown_closing_its_shortest_cycle(packages: Path) -> None:
    name = _package(
        packages,
        "knot_pkg",
        {
            "a": "from knot_pkg import b\nfrom knot_pkg import c\n",
            "b": "from knot_pkg import a\n",
            "c": "from knot_pkg import b\n",
        },
    )
    assert tool.find_cycles(tool.build_graph([name])) == [
        ("knot_pkg.a", "knot_pkg.b"),
        ("knot_pkg.a", "knot_pkg.c", "knot_pkg.b"),
    ]


def test_spectral_has_no_import_cycles() -> None:
    graph = tool.build_graph(tool.PACKAGES)
    assert tool.find_cycles(graph) == []
