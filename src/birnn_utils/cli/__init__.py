"""The ``birnn-utils`` command-line application (also ``python -m birnn_utils``).

An application built on the library, never imported by it: ``birnn_utils`` works without this
subpackage, which holds the demo of the classic experiment, the equivalence checks and the text
tables of ``explain``.
"""

from ._main import main

__all__ = ["main"]
