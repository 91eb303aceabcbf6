"""How a Python exception crosses wasm: a per-thread slot and a trap.

A callback that raises cannot unwind through wasm's native frames.  Its
trampoline parks the exception in this thread's slot (:func:`park`) and
returns a trap; wasm unwinds; the Python call that entered wasm takes the
exception back (:func:`take_pending`) and re-raises the very same object.

wasmtime-py has the same idea with one process-wide ``LAST_EXCEPTION``.
wasmjit honours it (a stock ``wasmtime.Func`` callback parks its exception
there), and replaces two private helpers of wasmtime-py when it is imported
so that its own calls into wasm (``Func.__call__``, ``Instance``,
``Linker.instantiate``, ``InstancePre.instantiate``) re-raise exceptions
from wasmjit callbacks too:

* ``maybe_raise_last_exn`` looks in wasmjit's per-thread slot first;
* ``enter_wasm``, a generator-based context manager in wasmtime-py, becomes
  the equivalent class :class:`EnterWasm`: raising a parked
  ``StopIteration`` inside a generator would turn it into ``RuntimeError``
  (PEP 479) instead of re-raising the same object.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Optional

import wasmtime
import wasmtime._func as _wasmtime_func

from . import ffi

__all__ = ["park", "take_pending", "raise_pending", "DynamicCodeUnavailable"]

_MESSAGE = b"python exception"


class DynamicCodeUnavailable(RuntimeError):
    """Generated code was demanded but is unavailable here.

    Raised for ``dynamic_code=True``, or ``backend=`` naming a backend, when
    this interpreter forbids it; the message says why each backend was skipped.
    """


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
    # Installed as wasmtime-py's ``maybe_raise_last_exn``.
    raise_pending()


class EnterWasm:
    """wasmtime-py's ``enter_wasm(store)``, as a class.

    Yields the trap out-pointer for a call into wasm; afterwards raises the
    parked exception if there is one, else the trap.  A ``WasmtimeError``
    raised by the body also gives way to a parked exception.
    """

    __slots__ = ("_trap",)

    def __init__(self, store: object = None) -> None:
        self._trap = ctypes.POINTER(wasmtime._ffi.wasm_trap_t)()

    def __enter__(self) -> object:
        return ctypes.byref(self._trap)

    def __exit__(self, exc_type: object, exc: Optional[BaseException], tb: object) -> None:
        if exc is None:
            if self._trap:
                trap = wasmtime.Trap._from_ptr(self._trap)
                raise_pending()
                raise trap
        elif isinstance(exc, wasmtime.WasmtimeError):
            raise_pending()


def _bridge_wasmtime_py() -> None:
    import wasmtime._instance
    import wasmtime._instance_pre
    import wasmtime._linker

    _wasmtime_func.maybe_raise_last_exn = _maybe_raise_last_exn
    for module in (_wasmtime_func, wasmtime._instance, wasmtime._linker, wasmtime._instance_pre):
        if hasattr(module, "enter_wasm"):
            module.enter_wasm = EnterWasm  # type: ignore[attr-defined]


_bridge_wasmtime_py()
