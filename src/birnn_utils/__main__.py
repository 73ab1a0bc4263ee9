"""``python -m birnn_utils``: the ``birnn-utils`` command."""

import sys

from .cli import main

sys.exit(main())
