"""``wasmjit.Caller``: the ``wasmtime.Caller`` a callback receives.

It is a ``wasmtime.Caller`` (so ``memory.data_ptr(caller)``, ``caller["f"]``
and every other wasmtime-py API taking a store-like object accept it), but it
is built from the raw caller address without any FFI call; the context is
looked up only if something asks for it.  Like wasmtime-py's, it is
invalidated when the callback returns, and never touches freed memory
afterwards: ``get()`` returns ``None``, ``caller[name]`` raises
``KeyError``, and anything needing the store context raises ``ValueError``.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, Optional

import wasmtime
from wasmtime._exportable import AsExtern
from wasmtime._extern import wrap_extern

from . import ffi

if TYPE_CHECKING:
    from ..memory import Memory

__all__ = ["Caller"]

_ContextPointer = ctypes.POINTER(wasmtime._ffi.wasmtime_context_t)


class Caller(wasmtime.Caller):
    """The calling instance of a host function, valid only during the call.

    After the callback returns, ``get()`` returns ``None``, ``caller[name]``
    raises ``KeyError``, and anything needing the store context raises
    ``ValueError``.
    """

    _address: Optional[int]
    _context_pointer: "Optional[ctypes._Pointer[wasmtime._ffi.wasmtime_context_t]]"

    def __init__(self, address: int) -> None:
        self._address = address
        self._context_pointer = None

    def get(self, name: str) -> Optional[AsExtern]:
        """The export ``name`` of the calling instance, or ``None``."""
        data = name.encode("utf-8")
        address = self._address
        if address is None:
            return None
        item = wasmtime._ffi.wasmtime_extern_t()
        if ffi.caller_export_get(address, data, len(data), ctypes.addressof(item)):
            return wrap_extern(item)
        return None

    def memory(self, name: str = "memory") -> "Memory":
        """The calling instance's exported memory ``name`` as a :class:`wasmjit.Memory`.

        Valid during this call only (afterwards its methods raise
        ``ValueError``).  ``KeyError`` when the instance exports no ``name``,
        ``TypeError`` when that export is not a memory, ``ValueError`` when
        this caller is no longer valid.
        """
        memory_of = _memory_of
        if memory_of is None:
            memory_of = _load_memory_of()
        result: Memory = memory_of(self, name)
        return result

    def _context(self) -> "ctypes._Pointer[wasmtime._ffi.wasmtime_context_t]":
        pointer = self._context_pointer
        if pointer is None:
            if self._address is None:
                raise ValueError("caller is no longer valid")
            pointer = ctypes.cast(ffi.caller_context(self._address), _ContextPointer)
            self._context_pointer = pointer
        return pointer

    def _invalidate(self) -> None:
        self._address = None
        self._context_pointer = None


#: ``wasmjit.memory.caller_memory``, imported on first use (it imports this module).
_memory_of: Optional[Callable[..., Any]] = None


def _load_memory_of() -> Callable[..., Any]:
    global _memory_of
    from ..memory import caller_memory

    _memory_of = caller_memory
    return caller_memory
