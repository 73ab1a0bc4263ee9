"""The documentation site as built: links, API signatures and Returns entries, table widths.

The site is built once per session (``mkdocs build --strict`` through mkdocs' Python API, so any
build warning fails here too) and the checks read its HTML.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
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


# After layout, lists each table with whether it scrolls or sticks out of the text column
# (Material clips a wide table in a scrolling wrapper) and whether a line above it says that it
# scrolls (js/wide-tables.js), by its header row.
MEASURE_TABLES = """
  const column = document.querySelector(".md-content__inner").getBoundingClientRect();
  return [...document.querySelectorAll(".md-content table")].map((table) => {
    const wrap = table.closest(".md-typeset__scrollwrap");
    const hint = wrap && wrap.previousElementSibling;
    return [
      table.querySelector("tr").textContent.trim().replace(/\\s+/g, " "),
      table.scrollWidth > table.clientWidth + 1
        || (wrap !== null && wrap.scrollWidth > wrap.clientWidth + 1)
        || table.getBoundingClientRect().right > column.right + 1,
      hint !== null && hint.classList.contains("table-scroll-hint")
        && hint.getBoundingClientRect().height > 0,
    ];
  });
"""


def _in_chromium(page: Path, width: int, height: int, script: str) -> Any:
    """What ``script`` (a function body) returns on ``page`` after layout, as JSON."""
    probe = page.with_name("probe.html")
    code = (
        '<script>window.addEventListener("load", () => { const out = document.createElement'
        '("pre"); out.id = "probe-result"; out.textContent = JSON.stringify((() => {'
        f"{script}}})()); document.body.append(out); }});</script>"
    )
    probe.write_text(page.read_text().replace("</body>", code + "</body>"))
    try:
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             f"--window-size={width},{height}", "--virtual-time-budget=5000", probe.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
            env={**os.environ, "HOME": str(page.parent)},
        ).stdout  # fmt: skip
    finally:
        probe.unlink()
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.DOTALL)
    assert found, f"{page}: the measuring script did not run"
    return json.loads(unescape(found.group(1)))


NEEDS_CHROMIUM = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs chromium (.ci/run installs it)"
)


@NEEDS_CHROMIUM
@pytest.mark.parametrize("width", [1280, 390])
def test_tables_fit_the_column_or_say_that_they_scroll(site: Path, width: int) -> None:
    """At 1280 px every table fits; on a phone (390 px) one that does not says it scrolls."""
    wrong = []
    for path in sorted(site.rglob("index.html")):
        if "<table" not in path.read_text():
            continue
        for header, scrolls, hinted in _in_chromium(path, width, 2400, MEASURE_TABLES):
            if scrolls and (width >= 1280 or not hinted):
                wrong.append(f"{path.relative_to(site)}: {header}")
    assert not wrong, "\n".join(wrong)


@NEEDS_CHROMIUM
def test_first_screen_at_1280px_shows_the_first_example(site: Path) -> None:
    script = 'return document.querySelector(".md-content pre").getBoundingClientRect().top;'
    top = _in_chromium(site / "index.html", 1280, 800, script)
    assert top < 500, f"the home page's first code block starts {top} px down a 800 px screen"


@NEEDS_CHROMIUM
def test_api_headings_are_larger_than_the_text(site: Path) -> None:
    sizes = _in_chromium(
        site / "api" / "nn" / "index.html",
        1280,
        900,
        """const body = parseFloat(getComputedStyle(document.querySelector(".md-content p"))
          .fontSize);
        return [...document.querySelectorAll(".doc-heading")]
          .map((h) => [h.id, parseFloat(getComputedStyle(h).fontSize) / body]);""",
    )
    small = [f"{name}: {ratio:.2f}x the text" for name, ratio in sizes if ratio < 1.1]
    assert len(sizes) >= 7
    assert not small, "\n".join(small)


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


def _content(page: Node) -> Node:
    """The page's article: what its Markdown rendered to."""
    return next(node for node in page.walk() if "md-content__inner" in node.classes)


def test_home_page_opens_with_the_30_second_example(site: Path, pages: dict[Path, Node]) -> None:
    """The README's example is the home page's first block, after a title and a few lines."""
    content = _content(pages[site / "index.html"])
    blocks = [node for node in content.walk() if node.tag in ("pre", "table", "ul", "ol")]
    assert blocks[0].tag == "pre", f"the home page starts with a {blocks[0].tag}, not code"
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"\[start:thirty-seconds\] -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert example, "README.md lost its 30-second example's snippet markers"
    assert blocks[0].text().strip() == example.group(1).strip()
    above = content.elements()
    above = above[: next(i for i, n in enumerate(above) if pages and blocks[0] in n.walk())]
    lines = sum(len(node.text().split()) for node in above) / 12  # about 12 words a line
    assert lines <= 8, f"about {lines:.0f} lines of text above the first example"


def test_readme_and_home_page_list_the_same_tools() -> None:
    """The "what is in it" table: linked on the site, plain in the README, the same rows."""

    def rows(text: str) -> list[tuple[str, list[str]]]:
        table = text[text.index("| You want | Use |") :].split("\n\n")[0]
        plain = re.sub(r"\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])", r"\1", table)  # links: text
        cells = [line.split(" | ") for line in plain.splitlines()[2:]]
        return [(want.strip("| "), re.findall(r"`([^`]*)`", use)) for want, use in cells]

    readme, home = (ROOT / "README.md").read_text(), (ROOT / "docs" / "index.md").read_text()
    assert rows(readme) == rows(home)


def test_site_publishes_the_wheel_and_the_sdist(site: Path, pages: dict[Path, Node]) -> None:
    version = birnn_utils.__version__
    wheel = site / "download" / f"birnn_utils-{version}-py3-none-any.whl"
    sdist = site / "download" / f"birnn_utils-{version}.tar.gz"
    links = {node.attrs.get("href") for node in pages[site / "index.html"].walk()}
    for path in (wheel, sdist):
        assert path.is_file(), f"the site has no {path.name}"
        assert path.relative_to(site).as_posix() in links, f"the home page does not link {path}"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"birnn_utils-{version}.dist-info/METADATA").decode()
    assert "birnn_utils/__init__.py" in names and "birnn_utils/py.typed" in names
    assert f"\nVersion: {version}\n" in metadata
    with tarfile.open(sdist) as archive:
        members = {member.name: member for member in archive.getmembers()}
        pkg_info = archive.extractfile(f"birnn_utils-{version}/PKG-INFO")
        assert pkg_info is not None and pkg_info.read().decode() == metadata
    for name in (*SOURCES, "pyproject.toml", "README.md", "src/birnn_utils/__init__.py"):
        assert f"birnn_utils-{version}/{name}" in members, f"the sdist lacks {name}"
    assert members[f"birnn_utils-{version}/scripts/gpu_check.sh"].mode & 0o111


def test_the_published_sdist_builds_the_published_wheel(site: Path, tmp_path: Path) -> None:
    """Pip builds a wheel from the sdist (hatchling from the index, as for `pip install`)."""
    [sdist] = (site / "download").glob("*.tar.gz")
    [wheel] = (site / "download").glob("*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), sdist],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    with zipfile.ZipFile(tmp_path / wheel.name) as built, zipfile.ZipFile(wheel) as published:
        assert sorted(built.namelist()) == sorted(published.namelist())
        for name in published.namelist():
            if not name.endswith("RECORD"):
                assert built.read(name) == published.read(name), name


SOURCES = (
    "examples/tagger.py",
    "examples/seq2seq.py",
    "tests/test_keras.py",
    "scripts/gpu_check.sh",
)
"""The scripts that the guides point to: the site shows each in full (docs/source.md)."""


def test_site_shows_the_examples_and_scripts(site: Path, pages: dict[Path, Node]) -> None:
    shown = [
        " ".join(node.text().split())
        for node in _content(pages[site / "source" / "index.html"]).walk()
        if node.tag == "pre"
    ]
    for name in SOURCES:
        text = " ".join((ROOT / name).read_text().split())
        assert text in shown, f"docs/source.md does not show all of {name}"


def _type_variable_names() -> set[str]:
    names = set()
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("birnn_utils"):
            names |= {name for name, value in vars(module).items() if isinstance(value, TypeVar)}
    return names


def test_api_signatures_name_no_private_type(api: Node) -> None:
    """Signatures, base classes and parameter types show public names only (issue 20.6)."""
    private = re.compile(r"(?<![\w.*])_\w+")
    type_variables = _type_variable_names()
    assert {"_Output", "NativeT"} <= type_variables  # the ones the issue saw
    shown = []
    for node in api.walk():
        if node.classes & {"doc-signature", "doc-class-bases"}:
            shown.append((_owner(node), node.text()))
        elif node.tag == "table":
            header = [cell.text().strip() for cell in node.walk() if cell.tag == "th"]
            if "Type" in header:
                column = header.index("Type")
                for row in node.walk():
                    cells = [cell for cell in row.elements() if cell.tag == "td"]
                    if "doc-section-item" in row.classes and len(cells) > column:
                        shown.append((_owner(node), cells[column].text()))
    assert len(shown) > 100
    wrong = [
        f"{owner}: {' '.join(text.split())}"
        for owner, text in shown
        if private.search(text) or set(re.findall(r"\w+", text)) & type_variables
    ]
    assert not wrong, "\n".join(wrong)


def test_each_public_name_is_on_exactly_one_api_page(
    site: Path, pages: dict[Path, Node], api_pages: dict[str, Node]
) -> None:
    ids = {name: _ids(page) for name, page in api_pages.items()}
    index = _ids(pages[site / "api" / "index.html"])
    for name, _ in _documented_objects():
        on = [page for page, found in ids.items() if f"birnn_utils.{name}" in found]
        assert len(on) == 1, f"birnn_utils.{name} is on the API pages {on}"
        assert f"birnn_utils.{name}" not in index


def test_method_headings_name_their_class(api: Node) -> None:
    """`LSTM.forward`, not `forward`: a search result or a heading read alone says whose.

    So do attributes' and properties' headings (`BiRNNEncoder.output_size`).
    """
    methods = 0
    for node in api.walk():
        path = node.attrs.get("id", "")
        if "doc-heading" not in node.classes or not path.startswith("birnn_utils."):
            continue
        owner, _, name = path.rpartition(".")
        if "." in owner and inspect.isclass(_object(owner)):
            assert node.text().split()[0] == f"{owner.rpartition('.')[2]}.{name}", path
            methods += 1
    assert methods >= 6


def test_search_leads_with_the_api_not_the_changelog(site: Path) -> None:
    docs = json.loads((site / "search" / "search_index.json").read_text())["docs"]
    boost = {doc["location"]: doc.get("boost", 1) for doc in docs}
    assert all(boost[place] < 1 for place in boost if place.startswith("changelog/"))
    assert all(boost[f"api/{name}/"] > 1 for name in API_PAGES)


def test_benchmarks_open_with_a_summary_of_targets(site: Path, pages: dict[Path, Node]) -> None:
    """The first section is the summary: each headline ratio and whether its target is met."""
    content = _content(pages[site / "benchmarks" / "index.html"])
    first = next(node for node in content.walk() if node.tag in ("h2", "table"))
    assert first.tag == "h2" and first.text().strip().startswith("Summary")
    table = next(node for node in content.walk() if node.tag == "table")
    header = [cell.text().strip() for cell in table.walk() if cell.tag == "th"]
    assert header[:2] == ["What is measured", "Met"]
    rows = [row for row in table.walk() if row.tag == "tr"][1:]
    met = [row.elements()[1].text().strip() for row in rows]
    assert len(met) >= 10
    assert all(re.match(r"(yes|no|only)\b|-$", answer) for answer in met), met
