"""Griffe extension: render the Sphinx roles of metrosim's docstrings as code.

The docstrings are numpy style and name other objects with Sphinx roles
(``:class:`Scenario```, ``:func:`~metrosim.experiments.compare```), which Markdown would show
literally. This extension rewrites each role into a code span of the name as Sphinx would
display it (the last component after a ``~``), before mkdocstrings renders the docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|obj|exc|const|type):`(~?)([^`]+)`")


def _display(match: re.Match[str]) -> str:
    tilde, target = match.group(1), match.group(2).strip()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def rewrite_roles(text: str) -> str:
    """Replace every Sphinx cross-reference role in ``text`` by a code span."""
    return _ROLE.sub(_display, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = rewrite_roles(obj.docstring.value)
