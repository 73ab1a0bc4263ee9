"""Griffe extension for the docs: render torch-style ``Example:`` sections as code.

Our docstrings follow ``torch.nn.utils.rnn`` and write ``Example:``; griffe's Google parser only
knows the plural ``Examples:``, and renders the singular as an admonition of plain text, so the
``>>>`` lines lose their code formatting. The extension renames the section before parsing.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:$", re.MULTILINE)


class TorchStyleExamples(griffe.Extension):
    """Rename ``Example:`` sections to ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
