"""MkDocs hook: the built site publishes the wheel and the sdist of the code it documents.

birnn-utils has no public address (no PyPI release, no public repository), so a reader of the
site gets the code from the site: ``download/`` holds ``birnn_utils-<version>-py3-none-any.whl``
and ``birnn_utils-<version>.tar.gz``, built from the checkout the site is built from, and the home
page links them with relative links, which work wherever the site is served.

The wheel is built by pip (``pip wheel --no-deps``), with the project's build backend, hatchling:
from the environment when it is installed there, else in pip's isolated build environment (which
needs the package index, as ``pip install -e .`` does). The sdist is written here: the files a
git checkout tracks or would track (``git ls-files``, so nothing that ``.gitignore`` excludes),
or without git every file outside hidden, build and cache folders, under
``birnn_utils-<version>/`` with a ``PKG-INFO`` that is the wheel's metadata, as hatchling's
sdist has. Entries carry a fixed time and owner, so the same tree gives the same archive.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
DOWNLOAD = "download"
"""The site folder that holds the wheel and the sdist."""
EPOCH = 315532800  # 1980-01-01, the earliest time a zip (the wheel) can hold
SKIPPED = {
    "site",
    "dist",
    "build",
    "__pycache__",
    "node_modules",
    "gpu-results",
}


def on_files(files: Files, *, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the wheel and the sdist to the site, under ``download/``."""
    for name, content in build_distributions(ROOT).items():
        files.append(
            File.generated(config, f"{DOWNLOAD}/{name}", content=content)
        )
    return files


def build_distributions(root: Path) -> dict[str, bytes]:
    """The wheel and the sdist of the project in ``root``, by file name."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            out,
        ]
        if importlib.util.find_spec("hatchling") is not None:
            command.append("--no-build-isolation")  # offline, and faster
        run = subprocess.run(
            [*command, str(root)], capture_output=True, text=True, check=False
        )
        wheels = sorted(Path(out).glob("*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise PluginError(
                f"hooks.py: `{' '.join(command)} .` failed:\n{run.stderr}"
            )
        wheel = wheels[0]
        with zipfile.ZipFile(wheel) as archive:
            [metadata] = [
                n
                for n in archive.namelist()
                if n.endswith(".dist-info/METADATA")
            ]
            pkg_info = archive.read(metadata)
        name, version = wheel.name.split("-")[:2]
        stem = f"{name}-{version}"
        return {
            wheel.name: wheel.read_bytes(),
            f"{stem}.tar.gz": sdist(root, stem, pkg_info),
        }


def _source_files(root: Path) -> list[str]:
    if (root / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root, capture_output=True, check=False,
        )  # fmt: skip
        if listed.returncode == 0:
            names = listed.stdout.decode().split("\0")
            return sorted(
                name for name in names if name and (root / name).is_file()
            )
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and not any(
            part.startswith(".")
            or part in SKIPPED
            or part.endswith(".egg-info")
            for part in path.relative_to(root).parts[:-1]
        )
    )


def sdist(root: Path, stem: str, pkg_info: bytes) -> bytes:
    """A ``.tar.gz`` of the source files under ``stem/``, with ``PKG-INFO`` first."""
    buffer = io.BytesIO()
    # gzip with mtime 0 and tar entries with fixed metadata: the same tree, the same bytes.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(
            fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT
        ) as tar,
    ):
        entries = [("PKG-INFO", pkg_info)]
        entries += [
            (name, (root / name).read_bytes()) for name in _source_files(root)
        ]
        for name, content in entries:
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size, info.mtime = len(content), EPOCH
            executable = (
                name != "PKG-INFO" and (root / name).stat().st_mode & 0o111
            )
            info.mode = 0o755 if executable else 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
