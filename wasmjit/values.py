"""Wasm value kinds, the annotation markers that name them, and conversions.

A :class:`Kind` knows everything the plan needs about one wasm value type: its
wasm C-API code, how its raw 16-byte slot is decoded and encoded with
``struct``, and which conversion (if any) turns the raw slot value into the
Python value a callback sees, and back.

The markers (:data:`i32`, :data:`i64`, ...) are ``Annotated`` aliases, so type
checkers see the underlying Python type while wasmjit reads the kind::

    def add(a: i32, b: i32) -> i32: ...
"""

from __future__ import annotations

import ctypes
import enum
import math
import operator
import struct
from typing import Any, Callable, List, Optional

import wasmtime
from typing_extensions import Annotated

from . import ffi

__all__ = [
    "Kind",
    "i32",
    "i64",
    "f32",
    "f64",
    "v128",
    "funcref",
    "externref",
    "encode_slow",
]


class Kind(enum.Enum):
    """One wasm value type, with how its raw slot is read and written."""

    #        name        wasm code  read  fast write  exact write
    I32 = ("i32", 0, "i", "i", "I")
    I64 = ("i64", 1, "q", "q", "Q")
    F32 = ("f32", 2, "f", "f", "f")
    F64 = ("f64", 3, "d", "d", "d")
    V128 = ("v128", 4, "16s", "16s", "16s")
    EXTERNREF = ("externref", 128, "I", "I", "I")
    FUNCREF = ("funcref", 129, "Q", "Q", "Q")

    def __init__(self, label: str, code: int, read: str, write: str, exact: str) -> None:
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

    @property
    def decoder(self) -> Optional[str]:
        """Name of the conversion applied to a decoded slot, if any."""
        return _DECODERS.get(self)

    @property
    def encoder(self) -> Optional[str]:
        """Name of the conversion applied before a value is encoded, if any."""
        return _ENCODERS.get(self)

    @property
    def needs_context(self) -> bool:
        """Whether converting this kind needs the store's context."""
        return self in (Kind.FUNCREF, Kind.EXTERNREF)

    def new_raw_valtype(self) -> int:
        """The address of a new ``wasm_valtype_t`` of this kind (the caller owns it)."""
        address = ffi.valtype_v128() if self is Kind.V128 else ffi.valtype_new(self.wasm_code)
        if not address:
            raise MemoryError("wasmtime could not allocate a value type")
        return int(address)

    def valtype(self) -> wasmtime.ValType:
        """A new ``wasmtime.ValType`` for this kind.

        (wasmtime-py's own ``ValType`` methods call ``wasm_valtype_kind``,
        which aborts for v128: compare and print kinds, not v128 ValTypes.)
        """
        return wasmtime.ValType._from_ptr(_as_valtype_pointer(self.new_raw_valtype()), None)

    @classmethod
    def of_valtype(cls, ty: wasmtime.ValType) -> "Kind":
        """The kind of ``ty``, found without ``wasm_valtype_kind`` (which aborts on v128)."""
        address = ctypes.cast(ty.ptr(), ctypes.c_void_p).value
        for kind, candidate in _candidates():
            if ffi.valtype_equal(address, candidate):
                return kind
        raise TypeError(
            "this function uses a wasm value type wasmjit does not support "
            "(it supports i32, i64, f32, f64, v128, externref and funcref; typed references are not)"
        )

    def __repr__(self) -> str:
        return f"Kind.{self.name}"

    def __str__(self) -> str:
        return self.label


_ValTypePointer = ctypes.POINTER(wasmtime._ffi.wasm_valtype_t)
_CANDIDATES: "list[tuple[Kind, int]]" = []


def _as_valtype_pointer(address: int) -> Any:
    return ctypes.cast(address, _ValTypePointer)


def _candidates() -> "list[tuple[Kind, int]]":
    # One value type of each kind, kept for the life of the process.
    if not _CANDIDATES:
        _CANDIDATES.extend((kind, kind.new_raw_valtype()) for kind in Kind)
    return _CANDIDATES


def new_functype(params: "tuple[Kind, ...]", results: "tuple[Kind, ...]") -> wasmtime.FuncType:
    """A new ``wasmtime.FuncType`` (wasmtime-py's constructor cannot make v128 ones)."""
    vectors = []
    for kinds in (params, results):
        vector = ffi.ValTypeVec()
        ffi.valtype_vec_new_uninitialized(ctypes.addressof(vector), len(kinds))
        for index, kind in enumerate(kinds):
            vector.data[index] = _as_valtype_pointer(kind.new_raw_valtype())
        vectors.append(vector)
    address = ffi.functype_new(ctypes.addressof(vectors[0]), ctypes.addressof(vectors[1]))
    if not address:
        raise MemoryError("wasmtime could not allocate a function type")
    pointer = ctypes.cast(address, ctypes.POINTER(wasmtime._ffi.wasm_functype_t))
    return wasmtime.FuncType._from_ptr(pointer, None)


_DECODERS = {Kind.FUNCREF: "funcref_from_raw", Kind.EXTERNREF: "externref_from_raw"}
_ENCODERS = {
    Kind.FUNCREF: "funcref_to_raw",
    Kind.EXTERNREF: "externref_to_raw",
    Kind.V128: "v128_to_raw",
}

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

# Conversions used by trampolines --------------------------------------------
#
# Decoders take ``(context, raw)`` and return the Python value.  Encoders take
# ``(context, value, keep)`` and return the raw value to store; ``keep``
# collects externrefs that must stay rooted until wasm has received them.

_FINALIZER_ADDRESS = ctypes.cast(wasmtime._value._externref_finalizer, ctypes.c_void_p).value


def funcref_from_raw(context: int, raw: Optional[int]) -> Optional[wasmtime.Func]:
    if not raw:
        return None
    out = ffi.FuncStruct()
    ffi.func_from_raw(context, raw, ctypes.addressof(out))
    return wasmtime.Func._from_raw(out)


def funcref_to_raw(context: int, value: Any, keep: "List[Any]") -> int:
    if value is None:
        return 0
    if not isinstance(value, wasmtime.Func):
        raise TypeError(f"expected a wasmtime.Func or None for a funcref, got {type(value).__name__}")
    func = value._func
    if func.store_id != store_id_of_context(context):
        raise ValueError("this wasmtime.Func belongs to another store")
    return int(ffi.func_to_raw(context, ctypes.addressof(func)) or 0)


def externref_from_raw(context: int, raw: int) -> Any:
    if not raw:
        return None
    ref = ffi.ExternRefStruct()
    address = ctypes.addressof(ref)
    ffi.externref_from_raw(context, raw, address)
    try:
        data = ffi.externref_data(context, address)
    finally:
        ffi.externref_unroot(address)
    return wasmtime._value._unintern(data) if data else None


def externref_to_raw(context: int, value: Any, keep: "List[Any]") -> int:
    if value is None:
        return 0
    ref = ffi.ExternRefStruct()
    address = ctypes.addressof(ref)
    handle = wasmtime._value._intern(value)
    if not ffi.externref_new(context, handle, _FINALIZER_ADDRESS, address):
        wasmtime._value.SLAB.deallocate(handle - 1)
        raise wasmtime.WasmtimeError("failed to create an externref value")
    # Rooted until ``release(keep)``: the raw value alone does not keep the
    # object alive, and another allocation could collect it before wasm sees it.
    keep.append(ref)
    return int(ffi.externref_to_raw(context, address))


def release(keep: "List[Any]") -> None:
    """Unroot the externrefs an encoder created."""
    while keep:
        # Hold the struct while wasmtime reads it: the address of a
        # temporary would point into freed memory by the time of the call.
        ref = keep.pop()
        ffi.externref_unroot(ctypes.addressof(ref))


def v128_to_raw(context: int, value: Any, keep: "List[Any]") -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) == 16:
            return data
        raise ValueError(f"a v128 value must be exactly 16 bytes, got {len(data)}")
    raise TypeError(f"expected 16 bytes for a v128, got {type(value).__name__}")


def store_id_of_context(context: int) -> int:
    """The id wasmtime gives the store behind ``context``."""
    ref = ffi.ExternRefStruct()
    address = ctypes.addressof(ref)
    if not ffi.externref_new(context, None, None, address):
        raise wasmtime.WasmtimeError("cannot identify the store (externrefs are disabled)")
    store_id = int(ref.store_id)
    ffi.externref_unroot(address)
    return store_id


CONVERTERS: "dict[str, Callable[..., Any]]" = {
    "funcref_from_raw": funcref_from_raw,
    "funcref_to_raw": funcref_to_raw,
    "externref_from_raw": externref_from_raw,
    "externref_to_raw": externref_to_raw,
    "v128_to_raw": v128_to_raw,
}

# The exact path ---------------------------------------------------------------

_INT_RANGES = {Kind.I32: (-(1 << 31), (1 << 32) - 1), Kind.I64: (-(1 << 63), (1 << 64) - 1)}
_F32 = struct.Struct("<f")


def encode_slow(kind: Kind, value: Any, context: Optional[int], keep: "List[Any]", what: str) -> Any:
    """Validate ``value`` for ``kind`` and return what ``kind.exact_format`` stores.

    ``what`` names the value in error messages ("result 1 of add", ...).
    Raises ``TypeError`` for a value of the wrong kind and ``OverflowError``
    for an integer outside both the signed and the unsigned range.
    """
    if kind in _INT_RANGES:
        if isinstance(value, float) or not hasattr(type(value), "__index__"):
            raise TypeError(f"{what}: expected an int for {kind}, got {type(value).__name__}")
        integer = operator.index(value)
        low, high = _INT_RANGES[kind]
        if not low <= integer <= high:
            raise OverflowError(f"{what}: {integer} does not fit in {kind} (signed or unsigned)")
        return integer & high
    if kind is Kind.F32 or kind is Kind.F64:
        if isinstance(value, (str, bytes, bytearray)) or not (
            isinstance(value, (int, float)) or hasattr(type(value), "__float__")
        ):
            raise TypeError(f"{what}: expected a float or int for {kind}, got {type(value).__name__}")
        number = float(value)
        if kind is Kind.F32:
            try:
                _F32.pack(number)
            except OverflowError:
                # IEEE rounding to single precision: too large rounds to infinity.
                return math.copysign(math.inf, number)
        return number
    if context is None and kind.needs_context:
        raise RuntimeError("internal error: no store context for a reference value")
    try:
        return CONVERTERS[kind.encoder](context, value, keep)  # type: ignore[index]
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{what}: {exc}") from None
