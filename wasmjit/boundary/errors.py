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

from . import ffi, headroom, wasmtime_py
from .wasmtime_py import error_from_address, trap_from_address

__all__ = [
    "park",
    "CallbackNotStarted",
    "take_pending",
    "raise_pending",
    "DynamicCodeUnavailable",
    "trap_from_address",
    "error_from_address",
]

_MESSAGE = b"python exception"


class DynamicCodeUnavailable(RuntimeError):
    """Generated code was demanded but is unavailable here.

    Raised for ``dynamic_code=True``, or ``backend=`` naming a backend, when
    this interpreter forbids it; the message says why each backend was skipped.
    """


class _Pending(threading.local):
    exception: Optional[BaseException] = None


_pending = _Pending()
#: This thread's slot (what generated trampolines read and write with attribute operations).
PENDING = _pending


class CallbackNotStarted(RecursionError):
    """A guarded host callback did not complete and left no exception to re-raise.

    Its trampoline could not start: CPython refused its frame (the recursion
    limit) or raised at its entry (a tracer's or profiler's 'call' event)
    before its ``try``, and ctypes reported that exception to
    ``sys.unraisablehook`` instead of returning it.  The guard shim trapped
    instead of letting wasm read the parameters as results.  The
    ``wasmtime.Trap`` is the ``__cause__``.
    """


#: The module name of the guard shim (see :mod:`wasmjit.boundary.guard`).
GUARD_MODULE = "wasmjit_guard"


def is_guard_trap(failure: BaseException) -> bool:
    """Whether ``failure`` is the trap of a guard shim (its innermost frame is the shim's)."""
    if not isinstance(failure, wasmtime.Trap):
        return False
    try:
        frames = failure.frames
    except Exception:
        return False
    return bool(frames) and frames[0].module_name == GUARD_MODULE


def raise_if_guard_trap(failure: BaseException) -> None:
    """A guard trap with nothing parked: raise :class:`CallbackNotStarted` from it."""
    if is_guard_trap(failure):
        raise CallbackNotStarted(
            "a wasmjit host callback could not run (CPython raised before its first instruction, "
            "e.g. RecursionError at the recursion limit); its guard trapped instead of returning "
            "unwritten results"
        ) from failure


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
        wasmtime_py.take_last_exception(expected=exception)
        return exception
    return wasmtime_py.take_last_exception()


def raise_pending() -> None:
    """Re-raise the parked exception, if there is one."""
    exception = take_pending()
    if exception is not None:
        try:
            raise exception
        finally:
            exception = None


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
        self._trap = wasmtime_py.new_trap_out_pointer()

    def __enter__(self) -> object:
        if headroom.STATE.armed:
            headroom.check()  # room for an unguarded host callback (see wasmjit.boundary.headroom)
        return ctypes.byref(self._trap)

    def __exit__(self, exc_type: object, exc: Optional[BaseException], tb: object) -> None:
        # A parked exception is taken first, with attribute operations only
        # (near the recursion limit a call could fail and strand it); the
        # trap is freed best-effort afterwards.
        parked = _pending.exception
        if parked is not None and ((exc is None and self._trap) or isinstance(exc, wasmtime.WasmtimeError)):
            _pending.exception = None
            try:
                if self._trap:
                    wasmtime_py.trap_from_pointer(self._trap)  # owned, then dropped: freed
                wasmtime_py.take_last_exception(expected=parked)
            except BaseException:
                pass
            raise parked
        if exc is None:
            if self._trap:
                trap = wasmtime_py.trap_from_pointer(self._trap)
                raise_pending()
                raise_if_guard_trap(trap)
                raise trap
        elif isinstance(exc, wasmtime.WasmtimeError):
            raise_pending()


wasmtime_py.bridge_calls_into_wasm(_maybe_raise_last_exn, EnterWasm)
