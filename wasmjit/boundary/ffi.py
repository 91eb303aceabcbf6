"""Every ctypes prototype wasmjit uses, declared on wasmtime's bundled library.

wasmtime-py exposes its own function objects and relies on their
``argtypes``/``restype``.  Those objects are shared, so wasmjit never touches
them: each prototype below is a *new* foreign-function object on the same
shared library, typed for the way wasmjit calls it (addresses travel as plain
``int``, which is the cheapest thing ctypes can convert).

This module also owns :data:`MEMORY`, a writable byte view of the whole
address space.  The unchecked ABI hands a callback the *address* of its
``wasmtime_val_raw_t`` slots; reading them through ``struct`` with
``MEMORY`` as the buffer decodes every parameter in one C call, without
building a ctypes object per call.
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, POINTER, PYFUNCTYPE, c_bool, c_char_p, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p
from typing import Any, Optional

from . import wasmtime_py

__all__ = [
    "LIB",
    "MEMORY",
    "SLOT_SIZE",
    "FuncStruct",
    "ExternRefStruct",
    "UncheckedCallback",
    "Finalizer",
]

#: The shared library wasmtime-py loaded; wasmjit declares its own prototypes on it.
LIB: ctypes.CDLL = wasmtime_py.LIBRARY

#: Size of one ``wasmtime_val_raw_t`` slot.
SLOT_SIZE = ctypes.sizeof(wasmtime_py.ValRawStruct)
assert SLOT_SIZE == 16, "wasmtime_val_raw_t is expected to be 16 bytes"

#: ``wasmtime_func_t`` / ``wasmtime_externref_t`` layouts (plain data, not functions).
FuncStruct = wasmtime_py.FuncStruct
ExternRefStruct = wasmtime_py.ExternRefStruct

#: ``wasm_trap_t *(*)(void *env, wasmtime_caller_t *, wasmtime_val_raw_t *, size_t)``
#: Every pointer is declared ``c_void_p``: ctypes hands them over as ``int``
#: (or ``None`` for NULL) and returning ``None`` means "no trap".
UncheckedCallback = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_size_t)

#: The same with a ``void`` C return type, for guarded trampolines (see
#: :mod:`wasmjit.boundary.guard`).  wasmtime reads the return register as the
#: trap pointer; libffi's closure for a void return leaves it 0 whether or
#: not ctypes could run the Python callable (libffi ``src/x86/unix64.S``,
#: ``UNIX64_RET_VOID``), so a trampoline that never ran cannot hand wasmtime
#: an uninitialised value: the guard shim then traps on the flag.
UncheckedVoidCallback = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t)

#: ``void (*)(void *env)``
Finalizer = CFUNCTYPE(None, c_void_p)


def _declare(name: str, restype: Any, *argtypes: Any) -> Any:
    """A fresh foreign function for ``name`` with wasmjit's own types."""
    return CFUNCTYPE(restype, *argtypes)((name, LIB))


def _declare_holding_gil(name: str, restype: Any, *argtypes: Any) -> Any:
    """Like :func:`_declare`, for short functions that never call back into Python.

    ctypes keeps the GIL across the call (``PYFUNCTYPE``): no release and
    re-acquire around a call that lasts nanoseconds, and no other thread
    runs in the middle of it.
    """
    return PYFUNCTYPE(restype, *argtypes)((name, LIB))


# Functions ------------------------------------------------------------------

func_new_unchecked = _declare(
    "wasmtime_func_new_unchecked",
    None,
    c_void_p,  # wasmtime_context_t *
    c_void_p,  # const wasm_functype_t *
    c_void_p,  # wasmtime_func_unchecked_callback_t
    c_void_p,  # void *env
    c_void_p,  # void (*finalizer)(void *)
    c_void_p,  # wasmtime_func_t *out
)

linker_define_func_unchecked = _declare(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,  # wasmtime_error_t *
    c_void_p,  # wasmtime_linker_t *
    c_char_p,
    c_size_t,
    c_char_p,
    c_size_t,
    c_void_p,  # const wasm_functype_t *
    c_void_p,  # callback
    c_void_p,  # env
    c_void_p,  # finalizer
)

#: ``wasmtime_func_call_unchecked`` for the hot path of typed calls: no
#: ``argtypes``, so ctypes passes pre-built ``c_void_p``/``c_size_t``
#: instances through without converting anything (wasmjit's own function
#: object, not wasmtime-py's: ``LIB[name]`` creates a new one).
func_call_unchecked_prebuilt = LIB["wasmtime_func_call_unchecked"]
func_call_unchecked_prebuilt.restype = c_void_p

caller_context = _declare("wasmtime_caller_context", c_void_p, c_void_p)
caller_export_get = _declare("wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p)

func_from_raw = _declare("wasmtime_func_from_raw", None, c_void_p, c_void_p, c_void_p)
func_to_raw = _declare("wasmtime_func_to_raw", c_void_p, c_void_p, c_void_p)

# Externrefs -----------------------------------------------------------------

externref_new = _declare("wasmtime_externref_new", c_bool, c_void_p, c_void_p, c_void_p, c_void_p)
externref_data = _declare("wasmtime_externref_data", c_void_p, c_void_p, c_void_p)
externref_unroot = _declare("wasmtime_externref_unroot", None, c_void_p)
externref_from_raw = _declare("wasmtime_externref_from_raw", None, c_void_p, c_uint32, c_void_p)
externref_to_raw = _declare("wasmtime_externref_to_raw", c_uint32, c_void_p, c_void_p)

# Types ----------------------------------------------------------------------
#
# wasm_valtype_kind and wasm_valtype_new abort the process for v128 (and for
# typed references) in wasmtime's C API; wasmjit never calls them on a type
# it has not identified.  It builds types with wasm_valtype_new (numbers and
# the two nullable references) or wasmtime_wasm_valtype_v128, and identifies
# a type by wasmtime_wasm_valtype_equal against one of each.

valtype_new = _declare("wasm_valtype_new", c_void_p, ctypes.c_uint8)
valtype_v128 = _declare("wasmtime_wasm_valtype_v128", c_void_p)
valtype_equal = _declare("wasmtime_wasm_valtype_equal", c_bool, c_void_p, c_void_p)
valtype_vec_new_uninitialized = _declare("wasm_valtype_vec_new_uninitialized", None, c_void_p, c_size_t)
functype_new = _declare("wasm_functype_new", c_void_p, c_void_p, c_void_p)
ValTypeVec = wasmtime_py.ValTypeVec

# Memories -------------------------------------------------------------------
#
# Every one takes (wasmtime_context_t *, const wasmtime_memory_t *) and aborts
# the process when the memory belongs to another store: callers make sure it
# does not (see wasmjit.memory).

#: ``uint8_t *wasmtime_memory_data(...)`` as an address (``None`` for NULL).
memory_data = _declare_holding_gil("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
#: The same function returning what wasmtime-py's ``Memory.data_ptr`` returns (``POINTER(c_uint8)``).
memory_data_pointer = _declare_holding_gil("wasmtime_memory_data", POINTER(c_uint8), c_void_p, c_void_p)
memory_data_size = _declare_holding_gil("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
#: Size in pages.
memory_size = _declare_holding_gil("wasmtime_memory_size", c_uint64, c_void_p, c_void_p)
memory_page_size = _declare_holding_gil("wasmtime_memory_page_size", c_uint64, c_void_p, c_void_p)
#: ``wasmtime_error_t *wasmtime_memory_grow(context, memory, delta, uint64_t *prev_size)``.  It
#: may copy the whole memory (when it moves), so the GIL is released meanwhile.
memory_grow = _declare("wasmtime_memory_grow", c_void_p, c_void_p, c_void_p, c_uint64, c_void_p)
#: ``wasmtime_caller_export_get`` and ``wasmtime_caller_context`` keeping the GIL, for guest memory look-ups.
caller_export_get_holding_gil = _declare_holding_gil(
    "wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p
)
caller_context_holding_gil = _declare_holding_gil("wasmtime_caller_context", c_void_p, c_void_p)

MemoryStruct = wasmtime_py.MemoryStruct
ExternStruct = wasmtime_py.ExternStruct
AnyRefStruct = wasmtime_py.AnyRefStruct

# Which store a context belongs to -------------------------------------------
#
# wasmtime's C API has no function returning a store's identity.  An i31ref
# (an unboxed reference: nothing is allocated on the GC heap) carries it; it
# is unrooted straight away.

anyref_from_i31 = _declare("wasmtime_anyref_from_i31", None, c_void_p, c_uint32, c_void_p)
anyref_unroot = _declare("wasmtime_anyref_unroot", None, c_void_p)

# Traps ----------------------------------------------------------------------

trap_new = _declare("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)


def _address_space_view() -> memoryview:
    # A ctypes array type as large as the address space, placed at address 0,
    # exports a buffer through which ``struct.unpack_from(fmt, MEMORY, addr)``
    # reads memory at ``addr``.  Nothing is allocated; only addresses wasmtime
    # hands to a trampoline are ever read or written through it.
    whole = (ctypes.c_char * (1 << 62)).from_address(0)
    return memoryview(whole).cast("B")


#: A writable view of the whole address space (see the module docstring).
MEMORY: memoryview = _address_space_view()


_shifted: "dict[int, memoryview]" = {0: MEMORY}


def shifted_memory(offset: int) -> memoryview:
    """A writable byte view of the address space starting at ``offset``.

    ``shifted_memory(k)[a]`` is the byte at address ``a + k``: a guarded
    trampoline sets its flag at ``raw + k`` with one item store, no call.
    """
    found = _shifted.get(offset)
    if found is None:
        whole = (ctypes.c_char * ((1 << 62) - offset)).from_address(offset)
        found = _shifted[offset] = memoryview(whole).cast("B")
    return found


trap_delete = _declare("wasm_trap_delete", None, c_void_p)
error_delete = _declare("wasmtime_error_delete", None, c_void_p)


def discard_failure(err: Optional[int], trap: Optional[int]) -> None:
    """Free what a failed call returned when a parked exception is raised instead."""
    if trap:
        trap_delete(trap)
    if err:
        error_delete(err)
