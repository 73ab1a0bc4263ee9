"""The test suite: a package, so that its modules share helpers (``from .reference import ...``)."""
