"""Wasm value and function types through wasmtime's C API, v128 included.

wasmtime's ``wasm_valtype_kind`` and ``wasm_valtype_new`` abort the process
for v128 (and for typed references); wasmtime-py's own ``ValType`` methods
call them.  wasmjit builds types with ``wasm_valtype_new`` (numbers and the
two nullable references) or ``wasmtime_wasm_valtype_v128``, and identifies a
type by ``wasmtime_wasm_valtype_equal`` against one of each kind, so no type
it has not identified ever reaches ``wasm_valtype_kind``.
"""

from __future__ import annotations

import ctypes
from typing import List, Tuple

import wasmtime

from ..model.kinds import Kind
from . import ffi, wasmtime_py

__all__ = ["new_raw_valtype", "valtype", "kind_of_valtype", "new_functype", "kinds_of_functype"]


def new_raw_valtype(kind: Kind) -> int:
    """The address of a new ``wasm_valtype_t`` of ``kind`` (the caller owns it)."""
    address = ffi.valtype_v128() if kind is Kind.V128 else ffi.valtype_new(kind.wasm_code)
    if not address:
        raise MemoryError("wasmtime could not allocate a value type")
    return int(address)


def valtype(kind: Kind) -> wasmtime.ValType:
    """A new ``wasmtime.ValType`` of ``kind`` (compare and print kinds, not v128 ValTypes)."""
    return wasmtime_py.valtype_from_address(new_raw_valtype(kind))


_CANDIDATES: List[Tuple[Kind, int]] = []


def _candidates() -> List[Tuple[Kind, int]]:
    # One value type of each kind, kept for the life of the process.
    if not _CANDIDATES:
        _CANDIDATES.extend((kind, new_raw_valtype(kind)) for kind in Kind)
    return _CANDIDATES


def kind_of_valtype(ty: wasmtime.ValType) -> Kind:
    """The kind of ``ty``, found without ``wasm_valtype_kind`` (which aborts on v128)."""
    address = ctypes.cast(ty.ptr(), ctypes.c_void_p).value
    for kind, candidate in _candidates():
        if ffi.valtype_equal(address, candidate):
            return kind
    raise TypeError(
        "this function uses a wasm value type wasmjit does not support "
        "(it supports i32, i64, f32, f64, v128, externref and funcref; typed references are not)"
    )


def new_functype(params: Tuple[Kind, ...], results: Tuple[Kind, ...]) -> wasmtime.FuncType:
    """A new ``wasmtime.FuncType`` (wasmtime-py's constructor cannot make v128 ones)."""
    vectors = []
    for kinds in (params, results):
        vector = ffi.ValTypeVec()
        ffi.valtype_vec_new_uninitialized(ctypes.addressof(vector), len(kinds))
        for index, kind in enumerate(kinds):
            vector.data[index] = wasmtime_py.valtype_pointer(new_raw_valtype(kind))
        vectors.append(vector)
    address = ffi.functype_new(ctypes.addressof(vectors[0]), ctypes.addressof(vectors[1]))
    if not address:
        raise MemoryError("wasmtime could not allocate a function type")
    return wasmtime_py.functype_from_address(address)


def kinds_of_functype(ty: wasmtime.FuncType) -> Tuple[Tuple[Kind, ...], Tuple[Kind, ...]]:
    """The parameter and result kinds of ``ty``."""
    return tuple(kind_of_valtype(t) for t in ty.params), tuple(kind_of_valtype(t) for t in ty.results)
