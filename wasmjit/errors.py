"""How a Python exception crosses wasm: a per-thread slot and a trap.

A callback that raises cannot unwind through wasm's native frames.  Its
trampoline parks the exception in this thread's slot (:func:`park`) and
returns a trap; wasm unwinds; the Python call that entered wasm takes the
exception back (:func:`take_pending`) and re-raises the very same object.

wasmtime-py has the same idea with one process-wide ``LAST_EXCEPTION``.
wasmjit honours it (a stock ``wasmtime.Func`` callback parks its exception
there) and teaches wasmtime-py's own ``maybe_raise_last_exn`` to look in
wasmjit's per-thread slot first, so an exception from a wasmjit callback is
re-raised even when the outermost call is wasmtime-py's ``Func.__call__``.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Optional

import wasmtime
import wasmtime._func as _wasmtime_func

from . import ffi

__all__ = ["park", "take_pending", "raise_pending", "trap_for", "DynamicCodeUnavailable"]

_MESSAGE = b"python exception"


class DynamicCodeUnavailable(RuntimeError):
    """``dynamic_code=True`` was asked for, but this interpreter forbids generated code."""


class _Pending(threading.local):
    exception: Optional[BaseException] = None


_pending = _Pending()


def park(exception: BaseException) -> int:
    """Park ``exception`` for this thread; return a new trap (an address) for wasm.

    Never raises: it runs inside a ctypes callback, where an escaping
    exception would be printed and lost.
    """
    _pending.exception = exception
    return int(ffi.trap_new(_MESSAGE, len(_MESSAGE)))


def trap_for(message: str) -> int:
    data = message.encode("utf-8", "replace")
    return int(ffi.trap_new(data, len(data)))


def take_pending() -> Optional[BaseException]:
    """The exception parked on this thread (wasmjit's slot, then wasmtime-py's), cleared."""
    exception = _pending.exception
    if exception is not None:
        _pending.exception = None
        if _wasmtime_func.LAST_EXCEPTION is exception:
            _wasmtime_func.LAST_EXCEPTION = None
        return exception
    exception = _wasmtime_func.LAST_EXCEPTION
    if exception is not None:
        _wasmtime_func.LAST_EXCEPTION = None
    return exception


def raise_pending() -> None:
    """Re-raise the parked exception, if there is one."""
    exception = take_pending()
    if exception is not None:
        try:
            raise exception
        finally:
            exception = None


def trap_from_address(address: int) -> wasmtime.Trap:
    """Take ownership of a ``wasm_trap_t *`` as a ``wasmtime.Trap``."""
    pointer = ctypes.cast(address, ctypes.POINTER(wasmtime._ffi.wasm_trap_t))
    return wasmtime.Trap._from_ptr(pointer)


def error_from_address(address: int) -> wasmtime.WasmtimeError:
    """Take ownership of a ``wasmtime_error_t *`` as a ``wasmtime.WasmtimeError``."""
    pointer = ctypes.cast(address, ctypes.POINTER(wasmtime._ffi.wasmtime_error_t))
    return wasmtime.WasmtimeError._from_ptr(pointer)


def _maybe_raise_last_exn() -> None:
    # Installed as wasmtime-py's ``maybe_raise_last_exn``: its ``enter_wasm``
    # calls it after every trap or error.
    raise_pending()


_wasmtime_func.maybe_raise_last_exn = _maybe_raise_last_exn
