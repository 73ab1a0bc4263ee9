"""The documentation site as built: links, API signatures and Returns entries, table widths.

The site is built once per session (``mkdocs build --strict`` through mkdocs' Python API, so any
build warning fails here too) and the checks read its HTML.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import birnn_utils

ROOT = Path(__file__).resolve().parents[1]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Node:
    """An HTML element: tag, attributes and children (Nodes and text)."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def elements(self) -> list[Node]:
        return [child for child in self.children if isinstance(child, Node)]

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.elements():
            yield from child.walk()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # ignore a stray end tag
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(path: Path) -> Node:
    builder = _TreeBuilder()
    builder.feed(path.read_text())
    return builder.root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    out = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # mkdocs.yml's paths (snippets, griffe extension) are relative to it
        patch.setenv("NO_MKDOCS_2_WARNING", "1")
        build(load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True))
    return out


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[Path, Node]:
    return {path: parse(path) for path in sorted(site.rglob("*.html"))}


API_PAGES = ("layout", "lengths", "modules", "nn", "varlen", "interop", "checks")
"""The API reference's pages by area, under docs/api/ (its index.md links them)."""


@pytest.fixture(scope="module")
def api_pages(site: Path, pages: dict[Path, Node]) -> dict[str, Node]:
    return {name: pages[site / "api" / name / "index.html"] for name in API_PAGES}


@pytest.fixture(scope="module")
def api(api_pages: dict[str, Node]) -> Node:
    """The API reference's pages as one document, to search them all at once."""
    document = Node("document", {}, None)
    for page in api_pages.values():
        document.children.append(page)
    return document


def _ids(page: Node) -> set[str]:
    return {node.attrs["id"] for node in page.walk() if "id" in node.attrs}


def test_internal_links_and_anchors_resolve(site: Path, pages: dict[Path, Node]) -> None:
    ids = {path: _ids(page) for path, page in pages.items()}
    broken = []
    for path, page in pages.items():
        for node in page.walk():
            link = node.attrs.get("href") if node.tag in ("a", "link") else node.attrs.get("src")
            if not link or urlsplit(link).scheme or link.startswith("//"):
                continue
            parts = urlsplit(link)
            base = site if parts.path.startswith("/") else path.parent  # 404.html: from the root
            target = (base / unquote(parts.path).lstrip("/")).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(site)}: {link}"
            if not target.is_file():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and parts.fragment not in ids.get(target, set()):
                broken.append(f"{where} (no such anchor)")
    assert not broken, "\n".join(broken)


def _object(path: str) -> object:
    module_name, _, rest = path.partition(".")
    obj: object = importlib.import_module(module_name)
    for name in rest.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{name}")  # type: ignore[attr-defined]
    return obj


def _heading(api: Node, path: str) -> Node:
    headings = [node for node in api.walk() if node.attrs.get("id") == path]
    assert len(headings) == 1, f"{path}: {len(headings)} headings in the API reference"
    return headings[0]


def _documented_objects() -> list[tuple[str, object]]:
    """Each public name and its object; a public module (``birnn_utils.nn``) by its members."""
    objects: list[tuple[str, object]] = []
    for name in birnn_utils.__all__:
        obj = getattr(birnn_utils, name)
        if inspect.ismodule(obj):
            objects += [(f"{name}.{member}", getattr(obj, member)) for member in obj.__all__]
        else:
            objects.append((name, obj))
    return objects


@pytest.mark.parametrize(
    ("name", "obj"), [pytest.param(name, obj, id=name) for name, obj in _documented_objects()]
)
def test_public_object_has_its_signature(api: Node, name: str, obj: object) -> None:
    heading = _heading(api, f"birnn_utils.{name}")
    assert heading.parent is not None
    siblings = heading.parent.elements()
    following = siblings[siblings.index(heading) + 1]
    if "doc-overloads" in following.classes:  # the @overload signatures, then the function's
        following = siblings[siblings.index(heading) + 2]
    assert "doc-signature" in following.classes, f"{name}: no signature under its heading"
    signature = " ".join(following.text().split())
    short = name.rpartition(".")[2]
    assert signature.startswith(short), signature
    if len(signature) > 80:  # mkdocs.yml's line_length: formatted by ruff, one parameter a line
        assert "\n" in following.text().strip(), f"{name}: signature not formatted (no ruff?)"
    if inspect.isclass(obj) and not issubclass(obj, tuple):
        own_init = inspect.signature(obj.__init__).parameters
        for parameter in list(own_init)[1:]:  # the constructor's, merged into the class
            assert f"{parameter}" in signature, f"{name}: `{parameter}` not in {signature!r}"
    elif inspect.isfunction(obj):
        assert signature.startswith(f"{short}(")
        assert "->" in signature, f"{name}: no return type in {signature!r}"


def _section_rows(obj_div: Node, title: str) -> int | None:
    """Rows of the docstring section ``title`` rendered in this object's own contents."""
    contents = next(child for child in obj_div.elements() if "doc-contents" in child.classes)
    children = contents.elements()
    for index, child in enumerate(children):
        if child.tag == "p" and child.text().strip() == title:
            table = children[index + 1]
            return sum(1 for row in table.walk() if "doc-section-item" in row.classes)
    return None


def _documented(obj: object, title: str) -> bool:
    return re.search(rf"^\s*{title}$", inspect.getdoc(obj) or "", re.MULTILINE) is not None


def test_returns_entries_are_the_documented_ones(api: Node) -> None:
    """A Returns text that runs over lines is one entry, not one per line (issue 14.1)."""
    checked, wrong = 0, []
    for heading in api.walk():
        path = heading.attrs.get("id", "")
        if not (heading.tag.startswith("h") and path.startswith("birnn_utils.")):
            continue
        obj = _object(path)
        if not callable(obj) or inspect.isclass(obj):
            continue
        assert heading.parent is not None
        for title in ("Returns:", "Yields:"):
            rows = _section_rows(heading.parent, title)
            expected = 1 if _documented(obj, title) else None
            if rows != expected:
                wrong.append(f"{path}: {rows} {title} entries, docstring documents {expected}")
        checked += 1
    assert checked >= len(birnn_utils.__all__) // 2
    assert not wrong, "\n".join(wrong)


# After layout, lists the tables that scroll or stick out of the text column (Material clips
# them in a scrolling wrapper), by their header row.
MEASURE = """<script>
window.addEventListener("load", () => {
  const column = document.querySelector(".md-content__inner").getBoundingClientRect();
  const wide = [...document.querySelectorAll(".md-content table")]
    .filter((table) => table.scrollWidth > table.clientWidth + 1
      || table.getBoundingClientRect().right > column.right + 1)
    .map((table) => table.querySelector("tr").textContent.trim().replace(/\\s+/g, " "));
  const out = document.createElement("pre");
  out.id = "wide-tables";
  out.textContent = JSON.stringify(wide);
  document.body.append(out);
});
</script>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (not in CI)")
def test_tables_fit_the_column_at_1280px(site: Path) -> None:
    too_wide = []
    for path in sorted(site.rglob("index.html")):
        html = path.read_text()
        if "<table" not in html:
            continue
        probe = path.with_name("measure.html")
        probe.write_text(html.replace("</body>", MEASURE + "</body>"))
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             "--window-size=1280,2400", "--virtual-time-budget=5000", probe.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
            env={**os.environ, "HOME": str(site)},
        ).stdout  # fmt: skip
        found = re.search(r'<pre id="wide-tables">(.*?)</pre>', dom, re.DOTALL)
        assert found, f"{path}: the measuring script did not run"
        if found.group(1) != "[]":
            too_wide.append(f"{path.relative_to(site)}: {found.group(1)}")
    assert not too_wide, "\n".join(too_wide)


def _owner(node: Node) -> str:
    """The id of the API object whose documentation holds ``node`` (its nearest doc-object)."""
    parent = node.parent
    while parent is not None:
        if "doc-object" in parent.classes:
            heading = next(child for child in parent.elements() if "doc-heading" in child.classes)
            return heading.attrs.get("id", "?")
        parent = parent.parent
    return "?"


def test_api_code_blocks_fit_80_columns(api: Node) -> None:
    """Examples and signatures fit the API page's code blocks, 80 characters at 1280 px."""
    blocks = [node for node in api.walk() if node.tag == "pre"]
    examples = [block for block in blocks if block.text().lstrip().startswith(">>>")]
    assert len(examples) >= len(birnn_utils.__all__) // 2  # the docstrings' examples are here
    too_long = [
        f"{_owner(block)}: {len(line)} characters: {line}"
        for block in blocks
        for line in block.text().splitlines()
        if len(line) > 80
    ]
    assert not too_long, "\n".join(too_long)
