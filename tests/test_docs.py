"""Every ```python block in the README and docs/ runs on its own, as a reader copies it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python( [^\n]*)?\n(.*?)^```", re.DOTALL | re.MULTILINE)
CONTINUED = 'title="Continued from above"'
"""The fence of a block that is a later step of a walk-through and needs the steps above it."""


def _programs(page: Path) -> list[tuple[int, str]]:
    """A page's programs: each block alone, or with the blocks it continues.

    A program is numbered by its last block.
    """
    programs: list[tuple[int, str]] = []
    for number, (info, block) in enumerate(BLOCK.findall(page.read_text()), start=1):
        if CONTINUED in info:
            assert programs, f"{page.name}[block {number}] continues nothing"
            programs[-1] = (number, programs[-1][1] + block)
        else:
            programs.append((number, block))
    return programs


PROGRAMS = [
    pytest.param(page, number, program, id=f"{page.relative_to(ROOT)}[{number}]")
    for page in PAGES
    for number, program in _programs(page)
]


def test_there_are_examples() -> None:
    assert BLOCK.findall((ROOT / "README.md").read_text())


@pytest.mark.parametrize(("page", "number", "program"), PROGRAMS)
def test_block_runs_on_its_own(page: Path, number: int, program: str) -> None:
    """Each block in a fresh namespace: a recipe copied alone has its imports and data.

    A walk-through's later step, marked "Continued from above", runs after the steps it needs.
    """
    code = compile(program, f"{page.name}[block {number}]", "exec")
    exec(code, {"__name__": f"docs_{page.stem}_{number}"})


def _load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(script).stem, ROOT / "docs" / script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_figure_is_what_the_script_draws() -> None:
    module = _load("make_figure.py")
    assert (ROOT / "docs" / "img" / "layout.svg").read_text() == module.figure()


def _masked(text: str) -> str:
    """The check table with its float32 errors masked: their last digits vary by CPU."""
    return re.sub(r"\d\.\d\de-\d\d|(?<= )0(?= )", "#", text)


@pytest.mark.parametrize("name", ["explain.txt", "check.txt"])
def test_cli_page_shows_what_the_command_prints(name: str) -> None:
    module = _load("make_cli_output.py")
    shown = (ROOT / "docs" / "snippets" / name).read_text()
    printed = module.console(module.COMMANDS[name])
    message = f"docs/snippets/{name} is stale: run `python docs/make_cli_output.py`"
    assert _masked(shown) == _masked(printed), message


def _table(page: Path) -> list[str]:
    """The rows of the page's "You want | Use" table, links reduced to their text."""
    text = page.read_text()
    start = text.index("| You want | Use |")
    rows = text[start : text.index("\n\n", start)].splitlines()
    return [re.sub(r"\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])", r"\1", row) for row in rows]


def test_readme_and_home_page_tables_agree() -> None:
    """The README's table (plain, for GitHub) is the home page's (with links) row for row."""
    assert _table(ROOT / "README.md") == _table(ROOT / "docs" / "index.md")
