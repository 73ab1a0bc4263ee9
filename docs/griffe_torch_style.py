"""Griffe extension for the docs: read torch-style docstrings as Markdown with working links.

Our docstrings follow ``torch.nn.utils.rnn``, so they read well in ``help()`` and in an editor.
They write ``Example:``, but griffe's Google parser only knows the plural ``Examples:`` and
renders the singular as an admonition of plain text, so the ``>>>`` lines would lose their code
formatting. And they cross-reference with Sphinx roles (``:func:`~birnn_utils.run_packed```),
which Markdown shows literally. Once the whole package is loaded, the extension renames
``Example:`` and turns each role whose target is public into a mkdocs-autorefs link to the API
reference (``[`run_packed`][birnn_utils.run_packed]``); a role naming something private stays
plain code. Rewriting here keeps the docstrings torch-style for ``help()`` and leaves one place
that knows the docs' link syntax. Last, griffe reads source statically and does not see the
constructor Python generates for a NamedTuple, so the extension adds it (``Directions(forward,
backward)``), as it adds a dataclass's. And a signature shows no private type variable
(``split_directions(output: _Output)``): each module-level ``TypeVar`` is shown as its bound, or
its default, wherever an annotation or a base class names it, and ``Generic[...]`` bases go.
"""

from __future__ import annotations

import dataclasses
import re
from functools import partial
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:$", re.MULTILINE)
_ROLE = re.compile(r":(func|class|data|meth|attr|mod):`~?([\w.]+)`")
PACKAGE = "birnn_utils"


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))  # type: ignore[arg-type]
    return found


class TorchStyleDocstrings(griffe.Extension):
    """Rename ``Example:``, link ``:func:`name``` roles, give NamedTuples a constructor."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != PACKAGE:
            return
        public = {str(name) for name in pkg.exports or ()}
        objects = _objects(pkg)
        _show_type_variables_as_their_bounds(objects)
        for obj in objects:
            if isinstance(obj, griffe.Class) and "NamedTuple" in map(
                str, obj.bases
            ):
                _add_namedtuple_init(obj)
            if obj.docstring is not None:
                value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
                obj.docstring.value = _ROLE.sub(
                    partial(_link, obj=obj, public=public), value
                )


def _link(match: re.Match[str], *, obj: griffe.Object, public: set[str]) -> str:
    kind, target = match.groups()
    shown = target.rsplit(".", 1)[-1]
    name = target.removeprefix(f"{PACKAGE}.")
    head = name.split(".", 1)[0]
    path = None
    if kind == "attr" and head in public:
        path = f"{PACKAGE}.{head}"  # attributes are listed in their class's table, no anchor
        shown = name
    elif head in public or (kind == "mod" and name != target):
        path = f"{PACKAGE}.{name}"
    elif kind in ("meth", "attr") and "." not in name:
        owner = obj if obj.is_class else obj.parent
        if owner is not None and owner.is_class and owner.name in public:
            path = f"{PACKAGE}.{owner.name}.{name}"
    return f"[`{shown}`][{path}]" if path else f"`{shown}`"


def _add_namedtuple_init(cls: griffe.Class) -> None:
    """Give a NamedTuple the ``__init__`` Python generates, so it shows ``Name(field, ...)``."""
    fields = [
        griffe.Parameter(
            member.name, annotation=member.annotation, kind=_POSITIONAL
        )
        for member in cls.members.values()
        if isinstance(member, griffe.Attribute)
        and "class-attribute" not in member.labels
    ]
    init = griffe.Function("__init__", parent=cls)
    init.parameters = griffe.Parameters(
        griffe.Parameter("self", kind=_POSITIONAL), *fields
    )
    cls.set_member("__init__", init)


def _type_variables(objects: list[griffe.Object]) -> dict[str, griffe.Expr]:
    """Each module-level ``X = TypeVar("X", bound=B)`` by name: its bound, default or ``Any``."""
    found: dict[str, griffe.Expr] = {}
    for obj in objects:
        value = getattr(obj, "value", None)
        if not (
            isinstance(obj, griffe.Attribute)
            and isinstance(obj.parent, griffe.Module)
            and isinstance(value, griffe.ExprCall)
            and str(value.function) in ("TypeVar", "typing.TypeVar")
        ):
            continue
        keywords = {
            argument.name: argument.value
            for argument in value.arguments
            if isinstance(argument, griffe.ExprKeyword)
        }
        shown = keywords.get("bound", keywords.get("default"))
        found[obj.name] = (
            shown
            if isinstance(shown, griffe.Expr)
            else griffe.ExprName("Any", parent=obj.parent)
        )
    return found


def _substitute(expr: Any, table: dict[str, griffe.Expr]) -> Any:
    """``expr`` with each name in ``table`` replaced (in place where it is nested)."""
    if isinstance(expr, griffe.ExprName) and expr.name in table:
        return table[expr.name]
    if isinstance(expr, list):
        return [_substitute(item, table) for item in expr]
    if isinstance(expr, griffe.Expr) and dataclasses.is_dataclass(expr):
        for field in dataclasses.fields(expr):
            if field.name != "parent":
                value = getattr(expr, field.name)
                object.__setattr__(expr, field.name, _substitute(value, table))
    return expr


def _show_type_variables_as_their_bounds(objects: list[griffe.Object]) -> None:
    table = _type_variables(objects)
    for obj in objects:
        if isinstance(obj, griffe.Function):
            for parameter in obj.parameters:
                parameter.annotation = _substitute(parameter.annotation, table)
            obj.returns = _substitute(obj.returns, table)
        elif isinstance(obj, griffe.Attribute):
            obj.annotation = _substitute(obj.annotation, table)
        elif isinstance(obj, griffe.Class):
            obj.bases = [
                _substitute(base, table)
                for base in obj.bases
                if not str(base).startswith(("Generic[", "typing.Generic["))
            ]


_POSITIONAL = griffe.ParameterKind("positional or keyword")
