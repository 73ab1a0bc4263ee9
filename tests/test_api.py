"""The public API: every name in ``__all__`` imports, is documented, has a runnable example."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path

import birnn_utils


def test_all_names_importable() -> None:
    for name in birnn_utils.__all__:
        assert hasattr(birnn_utils, name), name
    assert sorted(birnn_utils.__all__) == birnn_utils.__all__


def test_public_callables_have_google_docstrings_with_examples() -> None:
    for name in birnn_utils.__all__:
        obj = getattr(birnn_utils, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        doc = inspect.getdoc(obj) or ""
        assert "Example:" in doc and ">>>" in doc, f"{name} has no runnable Example:"
        if inspect.isfunction(obj):
            assert "Returns:" in doc or "Yields:" in doc or name == "value_checks", name


def test_every_public_name_is_in_the_api_reference() -> None:
    pages = (Path(__file__).resolve().parents[1] / "docs" / "api").glob("*.md")
    api = "".join(page.read_text() for page in pages)
    missing = [name for name in birnn_utils.__all__ if f"::: birnn_utils.{name}\n" not in api]
    assert not missing, f"docs/api/*.md lack {missing}"


def test_the_library_never_imports_the_command_line_application() -> None:
    code = "import sys, birnn_utils; print([m for m in sys.modules if 'birnn_utils.c' in m])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_version_is_the_installed_distribution_s() -> None:
    assert birnn_utils.__version__ == importlib.metadata.version("birnn-utils")


def test_each_docstring_section_appears_once() -> None:
    """Two ``Attributes:`` (or ``Args:``) sections render as two tables on the API page."""
    for name in birnn_utils.__all__:
        doc = inspect.getdoc(getattr(birnn_utils, name)) or ""
        for section in ("Args:", "Attributes:", "Returns:", "Raises:", "Example:"):
            count = sum(line == section for line in doc.splitlines())
            assert count <= 1, f"{name}: {count} `{section}` sections"
