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
from dataclasses import dataclass
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
    "Guest",
    "GuestValue",
    "Str",
    "Bytes",
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

    # Members are singletons compared by identity: hash them by identity too,
    # in C (Enum's own __hash__ is Python code, and plans hash their kinds).
    __hash__ = object.__hash__

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



# Guest data -------------------------------------------------------------------


@dataclass(frozen=True)
class Guest:
    """Marks a value that lives in a wasm instance's memory as a ``(ptr, len)`` pair.

    ``Annotated[str, Guest()]`` (UTF-8 text) or ``Annotated[bytes, Guest()]``
    stands for two wasm values, the address and the length (both ``i32``, or
    ``i64`` with ``address=Kind.I64`` for a 64-bit memory):

    * a callback's parameter is read from the memory of the instance that
      called, exported as ``memory``;
    * a callback's result is copied into that memory through its exported
      allocator ``alloc`` (``(i32) -> i32`` like ``malloc``, or
      ``(i32, i32, i32, i32) -> i32`` like ``cabi_realloc``) and returned as
      its address and length;
    * a typed call's arguments go the same way into the instance given as
      ``instance=``, and its results are read from there; with ``free``,
      what was allocated for the call (and results, once read) is released
      through that export (``(ptr)``, ``(ptr, len)`` or ``(ptr, len, align)``).
    """

    memory: str = "memory"
    alloc: Optional[str] = None
    free: Optional[str] = None
    address: Kind = Kind.I32

    def __post_init__(self) -> None:
        if self.address not in (Kind.I32, Kind.I64):
            raise TypeError(f"Guest(address=...) is Kind.I32 or Kind.I64, not {self.address!r}")
        for field_name in ("memory", "alloc", "free"):
            value = getattr(self, field_name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"Guest({field_name}=...) names an export: a str, not {type(value).__name__}")


@dataclass(frozen=True)
class GuestValue:
    """What a ``Guest`` annotation means for one value: the marker and text or bytes."""

    guest: Guest
    text: bool
    """``True``: a ``str`` (UTF-8); ``False``: ``bytes`` (any buffer is accepted)."""

    @property
    def flat(self) -> "tuple[Kind, Kind]":
        """The two wasm values it stands for: address and length."""
        return (self.guest.address, self.guest.address)

    @property
    def label(self) -> str:
        return "str" if self.text else "bytes"

    def __str__(self) -> str:
        return f"{self.label}@{self.guest.memory}"


Str = Annotated[str, Guest()]
"""UTF-8 text in the calling instance's memory, as ``(ptr, len)``."""
Bytes = Annotated[bytes, Guest()]
"""Bytes in the calling instance's memory, as ``(ptr, len)``."""
