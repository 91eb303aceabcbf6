"""Wasm value kinds and the annotation markers that name them.

A :class:`Kind` knows everything the plan needs about one wasm value type: its
wasm C-API code, how its raw 16-byte slot is decoded and encoded with
``struct``, which conversion (if any, by name: the functions live in
:mod:`wasmjit.boundary.conversions`) turns the raw slot value into the Python
value a callback sees, and back, and which Python class takes the fast path
under wasmtime-py's value rules.

The markers (:data:`i32`, :data:`i64`, ...) are ``Annotated`` aliases, so type
checkers see the underlying Python type while wasmjit reads the kind::

    def add(a: i32, b: i32) -> i32: ...
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import wasmtime
from typing_extensions import Annotated

__all__ = [
    "Kind",
    "i32",
    "i64",
    "f32",
    "f64",
    "v128",
    "funcref",
    "externref",
]


class Kind(enum.Enum):
    """One wasm value type, with how its raw slot is read and written."""

    #        name    wasm code  read  fast write  exact write  decoder  encoder  class
    I32 = ("i32", 0, "i", "i", "I", None, None, int)
    I64 = ("i64", 1, "q", "q", "Q", None, None, int)
    F32 = ("f32", 2, "f", "f", "f", None, None, float)
    F64 = ("f64", 3, "d", "d", "d", None, None, float)
    V128 = ("v128", 4, "16s", "16s", "16s", None, "v128_to_raw", None)
    EXTERNREF = ("externref", 128, "I", "I", "I", "externref_from_raw", "externref_to_raw", None)
    FUNCREF = ("funcref", 129, "Q", "Q", "Q", "funcref_from_raw", "funcref_to_raw", None)

    def __init__(
        self,
        label: str,
        code: int,
        read: str,
        write: str,
        exact: str,
        decoder: Optional[str],
        encoder: Optional[str],
        python_class: Optional[type],
    ) -> None:
        self.label = label
        self.wasm_code = code
        """``wasm_valkind_t`` of this kind in wasmtime's C API (4 for v128 is wasmjit's own)."""
        self.read_format = read
        """``struct`` code that decodes the slot (signed for integers)."""
        self.write_format = write
        """``struct`` code the fast path writes with.  Integers use the signed
        code, so ``struct`` itself rejects anything outside the signed range;
        such values (the unsigned half included) go to the exact path, which
        accepts the full signed-or-unsigned range."""
        self.exact_format = exact
        """``struct`` code the exact path writes with."""
        self.decoder = decoder
        """Name of the conversion applied to a decoded slot, if any."""
        self.encoder = encoder
        """Name of the conversion applied before a value is encoded, if any."""
        self.python_class = python_class
        """Under wasmtime-py's rules (``install()``), only values of exactly this
        class take the fast path; anything else goes through ``wasmtime.Val``.
        ``None``: such kinds are not specialised under ``install()``."""

    @property
    def needs_context(self) -> bool:
        """Whether converting this kind needs the store's context."""
        return self in (Kind.FUNCREF, Kind.EXTERNREF)

    def __repr__(self) -> str:
        return f"Kind.{self.name}"

    def __str__(self) -> str:
        return self.label


# Markers --------------------------------------------------------------------

i32 = Annotated[int, Kind.I32]
"""A 32-bit wasm integer; arrives signed, may be returned signed or unsigned."""
i64 = Annotated[int, Kind.I64]
"""A 64-bit wasm integer; arrives signed, may be returned signed or unsigned."""
f32 = Annotated[float, Kind.F32]
"""A 32-bit wasm float; values are rounded to single precision."""
f64 = Annotated[float, Kind.F64]
"""A 64-bit wasm float; bit patterns pass through unchanged."""
v128 = Annotated[bytes, Kind.V128]
"""A 128-bit wasm vector, as exactly 16 ``bytes``."""
funcref = Annotated[Optional[wasmtime.Func], Kind.FUNCREF]
"""A wasm function reference: a ``wasmtime.Func`` or ``None`` (null)."""
externref = Annotated[Any, Kind.EXTERNREF]
"""A wasm external reference: any Python object; ``None`` is null."""

