"""A compiled trampoline's ``try`` widened over its entry and its final return.

What :attr:`wasmjit.model.ir.Program.try_covers_entry` asks of backends that
compile Python (``source``) or ship it (``reflect``); ``bytecode`` assembles
its ranges that way directly.

CPython looks an exception raised as a frame starts up in the frame's own
exception table: a failing 'call' event of ``sys.settrace``/``sys.setprofile``
(3.11 ``ceval.c`` ``TRACE_FUNCTION_ENTRY``: ``goto error``; 3.12+
``INSTRUMENTED_RESUME``: ``goto error``), or a signal handled by
``RESUME``.  On 3.11 it is looked up at the instruction *before* the one
being traced (``exception_unwind``: ``INSTR_OFFSET()-1``), so the range must
start at offset 0 with an instruction before ``RESUME`` (a closure's
``COPY_FREE_VARS``; the bytecode backend emits a ``NOP``).  The compiler
starts a ``try``'s range after ``RESUME``; :func:`cover_entry` moves it to 0.

A failing 'return' event goes through the table on 3.12+
(``INSTRUMENTED_RETURN_VALUE``/``INSTRUMENTED_RETURN_CONST``: ``goto error``)
but not on 3.11 (``TRACE_FUNCTION_EXIT``: ``goto exit_unwind``, the frame
is left with the exception and no handler runs).  The compiler puts a
``return`` that ends a ``try`` body just after the range (after the
``POP_BLOCK`` pseudo-instruction); on 3.12+ :func:`cover_entry` extends the
range over it.

Table format: CPython's ``Objects/exception_handling_notes.txt``; entries are
sorted by start, each four varints of 6-bit big-endian chunks (bit 6:
another chunk follows, bit 7: an entry starts).
"""

from __future__ import annotations

import dis
import sys
import types
from typing import List

__all__ = ["parse", "encode", "covering_table", "cover_entry"]

#: Instructions allowed before a trampoline's ``try`` (a closure's prologue, ``RESUME``).
_PROLOGUE = frozenset({"COPY_FREE_VARS", "MAKE_CELL", "RESUME", "NOP"})


def parse(table: bytes) -> "List[List[int]]":
    """``[start, end, target, depth, lasti]`` per entry, in code units."""
    entries = []
    data = iter(table)

    def varint(first: int) -> int:
        value = first & 63
        while first & 64:
            first = next(data)
            value = (value << 6) | (first & 63)
        return value

    for byte in data:
        if not byte & 128:
            raise ValueError("malformed exception table")
        start = varint(byte)
        length = varint(next(data))
        target = varint(next(data))
        depth_lasti = varint(next(data))
        entries.append([start, start + length, target, depth_lasti >> 1, depth_lasti & 1])
    return entries


def _varint(value: int, first: bool) -> bytes:
    chunks = [value & 63]
    value >>= 6
    while value:
        chunks.insert(0, value & 63)
        value >>= 6
    out = bytearray(c | 64 for c in chunks[:-1]) + bytes([chunks[-1]])
    if first:
        out[0] |= 128
    return bytes(out)


def encode(entries: "List[List[int]]") -> bytes:
    out = b""
    for start, end, target, depth, lasti in entries:
        out += _varint(start, True) + _varint(end - start, False) + _varint(target, False)
        out += _varint(depth << 1 | lasti, False)
    return out


def _return_units(instructions: "List[dis.Instruction]", index: int) -> int:
    """Code units of the ``return`` starting at ``instructions[index]``, or 0.

    ``return None`` (``RETURN_CONST None``; 3.14 ``LOAD_CONST None``, 3.15
    ``LOAD_COMMON_CONSTANT None``, then ``RETURN_VALUE``), or a bare
    ``RETURN_VALUE`` whose value was loaded inside the range (``return ret``).
    """
    if index >= len(instructions):
        return 0
    first = instructions[index]
    if first.opname == "RETURN_VALUE":
        return 1
    if first.opname == "RETURN_CONST" and first.argval is None:
        return 1
    loads = ("LOAD_CONST", "LOAD_COMMON_CONSTANT")
    if first.opname in loads and first.argval is None and index + 1 < len(instructions):
        if instructions[index + 1].opname == "RETURN_VALUE":
            return 2
    return 0


def cover_entry(code: types.CodeType, expected_returns: int = 1) -> types.CodeType:
    """``code`` with :func:`covering_table` as its exception table.

    ``code.replace`` raises the ``code.__new__`` audit event: an audit hook
    may refuse it.
    """
    return code.replace(co_exceptiontable=covering_table(code, expected_returns))


def covering_table(code: types.CodeType, expected_returns: int = 1) -> bytes:
    """``code``'s exception table with its first ``try`` starting at offset 0 and
    (3.12+) each ``try`` body's final ``return`` (right after its range) covered.

    Raises ``ValueError`` when the code is not shaped as expected (anything
    but a closure's prologue and ``RESUME`` before the ``try``, fewer than
    ``expected_returns`` returns right after a range).
    """
    entries = parse(code.co_exceptiontable)
    if not entries:
        raise ValueError("no try to widen")
    first = entries[0]
    instructions = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
    before = {i.opname for i in instructions if i.offset < first[0] * 2}
    if not before <= _PROLOGUE or "RESUME" not in before:
        raise ValueError(f"unexpected instructions before the try: {sorted(before)}")
    if sys.version_info < (3, 12) and instructions[0].opname == "RESUME":
        raise ValueError("3.11 needs an instruction before RESUME inside the try")
    first[0] = 0
    if sys.version_info >= (3, 12):
        # Every range of a handler at depth 0 (a ``try`` statement's, not an
        # ``except ... as`` clean-up's) that a ``return`` directly follows.
        at = {i.offset: n for n, i in enumerate(instructions)}
        starts = {entry[0] for entry in entries}
        covered = 0
        for entry in entries:
            if entry[3] != 0 or entry[4] or entry[1] in starts:
                continue
            index = at.get(entry[1] * 2)
            units = _return_units(instructions, index) if index is not None else 0
            if units:
                entry[1] += units
                covered += 1
        if covered < expected_returns:
            raise ValueError(f"{covered} of {expected_returns} try bodies end in a 'return' right after their range")
    return encode(entries)
