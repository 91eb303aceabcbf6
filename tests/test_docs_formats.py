"""Every ``struct`` format quoted in docs/ is the one the plan produces.

The docs quote formats (``'<i12xq'``) next to the signature and direction
they describe.  Each quoted format is found by scanning docs/*.md for quoted
strings that start with a ``struct`` byte-order character and are valid
formats; :data:`DOC_FORMATS` says, for each, which plan and which of its
formats the surrounding text describes (by a marker: text on the same line).
A quoted format no entry describes fails :func:`test_every_quoted_format_is_described`,
so a new example in the docs has to be added here.

:data:`KNOWN_MISMATCHES` lists the quotes known to be wrong today (the docs
show ``'='``, native byte order with standard sizes, where the plans use
``'<'``, and one format's padding split in two); they are strict ``xfail``:
once the docs are fixed, remove them from the list.
"""

from __future__ import annotations

import pathlib
import re
import struct
from dataclasses import dataclass
from typing import List, Tuple

import pytest

from wasmjit.model.kinds import Kind
from wasmjit.model.plan import Plan, call_plan, callback_plan
from wasmjit.model.signature import Signature

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"

#: A quoted string starting with a struct byte-order character.
QUOTED = re.compile(r"'([<>=!@][0-9A-Za-z?]*)'")


@dataclass(frozen=True)
class DocFormat:
    file: str
    marker: str
    """Text before the quote on its line that says what it is (the nearest marker wins)."""
    plan: Plan
    attribute: str
    """``decode_format``, ``encode_format`` or ``exact_format``."""


I32, I64, F64 = Kind.I32, Kind.I64, Kind.F64
ADD_CALLBACK = callback_plan(Signature((I32, I32), (I32,)))  # the `add(a: i32, b: i32) -> i32` of the docs
CALL_I32_I64_F64 = call_plan(Signature((I32, I64), (F64,)))

DOC_FORMATS: Tuple[DocFormat, ...] = (
    DocFormat("backends.md", "decode parameters with struct", ADD_CALLBACK, "decode_format"),
    DocFormat("backends.md", "store results with struct", ADD_CALLBACK, "encode_format"),
    DocFormat("backends.md", "(exact path", ADD_CALLBACK, "exact_format"),
    DocFormat("design.md", "encodes with", CALL_I32_I64_F64, "encode_format"),
    DocFormat("design.md", "decodes with", CALL_I32_I64_F64, "decode_format"),
    DocFormat("design.md", "p0, p1 = decode(MEMORY, raw)", ADD_CALLBACK, "decode_format"),
    DocFormat("design.md", "encode(MEMORY, raw, result)", ADD_CALLBACK, "encode_format"),
)

#: (file, quoted format) of the quotes known to disagree with the code.
KNOWN_MISMATCHES: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Quote:
    file: str
    line: int
    text: str
    """The line up to the quote."""
    format: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.format}"


def quoted_formats() -> List[Quote]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in QUOTED.finditer(line):
                try:
                    struct.calcsize(match.group(1))
                except struct.error:
                    continue
                found.append(Quote(path.name, number, line[: match.start()], match.group(1)))
    return found


QUOTES = quoted_formats()


def describe(quote: Quote) -> DocFormat:
    entries = [entry for entry in DOC_FORMATS if entry.file == quote.file and entry.marker in quote.text]
    nearest = max((quote.text.rfind(entry.marker) for entry in entries), default=-1)
    entries = [entry for entry in entries if quote.text.rfind(entry.marker) == nearest]
    if len(entries) != 1:
        pytest.fail(
            f"{quote}: {len(entries)} entries of DOC_FORMATS describe this quote "
            f"(say in DOC_FORMATS which plan and format the quote after {quote.text.strip()!r} is)",
            pytrace=False,
        )
    return entries[0]


def test_the_docs_quote_formats() -> None:
    assert len(QUOTES) >= len(DOC_FORMATS), [str(q) for q in QUOTES]


def test_every_quoted_format_is_described() -> None:
    for quote in QUOTES:
        describe(quote)


def test_every_description_matches_a_quote() -> None:
    unused = [entry for entry in DOC_FORMATS if not any(describe(q) == entry for q in QUOTES)]
    assert not unused, f"DOC_FORMATS entries no quote in docs/ matches any more: {unused}"


def _params() -> List[object]:
    params = []
    for quote in QUOTES:
        marks = []
        if (quote.file, quote.format) in KNOWN_MISMATCHES:
            marks.append(pytest.mark.xfail(strict=True, reason="a known docs mismatch: fix the docs, then the list"))
        params.append(pytest.param(quote, id=str(quote), marks=marks))
    return params


@pytest.mark.parametrize("quote", _params())
def test_quoted_format_is_what_the_plan_produces(quote: Quote) -> None:
    entry = describe(quote)
    produced = getattr(entry.plan, entry.attribute)
    assert quote.format == produced, (
        f"{quote.file}:{quote.line} quotes {quote.format!r} for the {entry.attribute} of "
        f"{entry.plan.direction.value} {entry.plan.signature}, the plan produces {produced!r}"
    )
