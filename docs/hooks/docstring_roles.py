"""MkDocs hook: render the Sphinx roles used in wasmjit's docstrings.

wasmjit's docstrings cross-reference with reST roles (``:func:`typed```,
``:meth:`Function.from_callback```).  mkdocstrings renders docstrings as
Markdown, where such a role arrives as the literal text ``:func:`` followed
by a code span.  This hook drops the role prefix and keeps the code span, so
the API reference reads ``typed`` instead of ``:func:typed``.  A leading
``~`` (show only the last component) is honoured.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):<code>(~?)([^<]*)</code>")


def _render(match: "re.Match[str]") -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_render, html)
