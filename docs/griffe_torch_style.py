"""Griffe extension for the docs: read torch-style docstrings as Markdown.

Our docstrings follow ``torch.nn.utils.rnn``. They write ``Example:``, but griffe's Google parser
only knows the plural ``Examples:`` and renders the singular as an admonition of plain text, so
the ``>>>`` lines lose their code formatting; and they cross-reference with Sphinx roles
(``:func:`name```), which Markdown shows literally. The extension rewrites both before parsing.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:$", re.MULTILINE)
_ROLE = re.compile(r":(?:func|class|data|meth|attr|mod):`~?(?:[\w.]*\.)?(\w+)`")


class TorchStyleDocstrings(griffe.Extension):
    """Rename ``Example:`` to ``Examples:``; turn ``:func:`a.b``` into code, ``b``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(r"`\1`", value)
