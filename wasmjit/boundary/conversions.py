"""Value conversions trampolines call by name, and the exact path's validation.

Kinds name their conversions (``Kind.decoder``, ``Kind.encoder``); the
functions live here and reach trampolines through :data:`CONVERTERS`.
Decoders take ``(context, raw)`` and return the Python value.  Encoders take
``(context, value, keep)`` and return the raw value to store; ``keep``
collects externrefs that must stay rooted until wasm has received them.
"""

from __future__ import annotations

import ctypes
import math
import operator
import struct
from typing import Any, Callable, List, Optional

import wasmtime

from ..model.kinds import Kind
from . import ffi, wasmtime_py
from .memories import store_id

__all__ = ["CONVERTERS", "exact_value", "release"]

def funcref_from_raw(context: int, raw: Optional[int]) -> Optional[wasmtime.Func]:
    if not raw:
        return None
    out = ffi.FuncStruct()
    ffi.func_from_raw(context, raw, ctypes.addressof(out))
    return wasmtime_py.func_from_handle(out)


def funcref_to_raw(context: int, value: Any, keep: "List[Any]") -> int:
    if value is None:
        return 0
    if not isinstance(value, wasmtime.Func):
        raise TypeError(f"expected a wasmtime.Func or None for a funcref, got {type(value).__name__}")
    func = wasmtime_py.func_handle(value)
    if func.store_id != store_id(context):
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
    return wasmtime_py.unintern(data) if data else None


def externref_to_raw(context: int, value: Any, keep: "List[Any]") -> int:
    if value is None:
        return 0
    ref = ffi.ExternRefStruct()
    address = ctypes.addressof(ref)
    handle = wasmtime_py.intern(value)
    if not ffi.externref_new(context, handle, wasmtime_py.EXTERNREF_FINALIZER_ADDRESS, address):
        wasmtime_py.forget_interned(handle)
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


def exact_value(kind: Kind, value: Any, context: Optional[int], keep: "List[Any]", what: str) -> Any:
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
