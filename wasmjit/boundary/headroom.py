"""Room for an unguarded host callback before Python enters wasm (issue 12).

A trampoline whose frame CPython refuses at the recursion limit never runs:
ctypes reports the ``RecursionError`` to ``sys.unraisablehook`` and returns
an undefined value to wasmtime as the trap pointer (a crash, or 0: wasm goes
on as if the callback had returned the parameters left in its slots).  No
Python code runs at that point (3.11 ``ceval.c`` ``start_frame``:
``_Py_EnterRecursiveCallTstate`` -> ``exit_unwind``; 3.12+
``_Py_EnterRecursivePy`` -> ``exit_unwind``), so nothing the trampoline
does can help.  Guarded callbacks have the wasm shim for this
(:mod:`wasmjit.boundary.guard`); callbacks that take a ``Caller`` or guest
data, and ``Linker`` definitions, cannot stand behind it.

For them the defence is at the other end: once such a callback exists
(:func:`arm`), every entry into wasm that wasmjit sees - a typed call, and
wasmtime-py's own ``enter_wasm`` (``Func.__call__``, ``Instance``,
``Linker.instantiate``), which :mod:`wasmjit.boundary.errors` replaces -
first checks that the thread has :data:`NEEDED` Python frames left, and
raises ``RecursionError`` itself if not.  A trampoline entered from there
can start, and its failure path can run.  The check runs again at each
nested entry (a callback calling into wasm), so it holds at every depth.

There is no public API for the frames left.  This thread's state holds the
counter CPython tests (``recursion_remaining`` on 3.11, ``py_recursion_
remaining`` on 3.12+, cpython ``Include/cpython/pystate.h``); its offset is
found at import by calibration: the one 32-bit field of the thread state
that drops by exactly one per Python frame and rises with
``sys.setrecursionlimit``.  If no single field does, the check stays off
(:data:`STATE` ``.why`` says why) and unguarded callbacks keep the hazard.
Not checked: 3.12/3.13's separate C-recursion budget and 3.14+'s C stack
limit, which Python frames alone do not exhaust.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from typing import List

__all__ = ["STATE", "NEEDED", "ROOM", "arm", "check", "remaining"]

#: Python frames an unguarded trampoline needs below an entry into wasm: its
#: own frame, its failure path (``fail`` -> ``park``), and what ctypes and
#: CPython take on the way (on 3.11 a ctypes call counts against the same
#: budget), with margin.  ``tests/test_reliability_headroom.py`` sweeps every
#: depth up to the limit.
NEEDED = 12

#: How far into the thread state calibration looks (bytes).
_SCAN = 512


class _State:
    __slots__ = ("armed", "available", "offset", "why")

    def __init__(self) -> None:
        self.armed = False
        self.available = False
        self.offset = -1
        self.why = "not calibrated"


#: ``armed``: an unguarded host callback exists, entries check.
STATE = _State()

_get_tstate = ctypes.pythonapi.PyThreadState_Get
_get_tstate.restype = ctypes.c_void_p
_get_tstate.argtypes = ()


class _Thread(threading.local):
    """This thread's frame counter, as a ctypes view of its thread state."""

    counter: ctypes.c_int

    def __init__(self) -> None:
        self.counter = ctypes.c_int.from_address(int(_get_tstate() or 0) + STATE.offset)


#: This thread's frame counter (``ROOM.counter.value``), once calibrated: what a typed call's
#: program compares with :data:`NEEDED` itself (no call), calling :func:`check` only to raise.
ROOM: "_Thread | None" = None


def _snapshot() -> "List[int]":
    base = int(_get_tstate() or 0)
    return list((ctypes.c_int * (_SCAN // 4)).from_address(base))


def _calibrate() -> None:
    global ROOM
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 15):
        STATE.why = "only CPython 3.11-3.15 is calibrated"
        return

    def at_depth(n: int) -> "List[int]":
        return at_depth(n - 1) if n else _snapshot()

    try:
        for _ in range(4):  # warm up: 3.11's first unspecialised calls may count differently
            shallow, deep = at_depth(5), at_depth(15)
        candidates = [i for i, (a, b) in enumerate(zip(shallow, deep, strict=True)) if a - b == 10 and b > 0]
        limit = sys.getrecursionlimit()
        before = at_depth(5)
        sys.setrecursionlimit(limit + 40)
        try:
            raised = at_depth(5)
        finally:
            sys.setrecursionlimit(limit)
        candidates = [i for i in candidates if raised[i] - before[i] == 40]
    except Exception as exc:  # pragma: no cover - a refused ctypes call
        STATE.why = f"calibration failed: {type(exc).__name__}: {exc}"
        return
    if len(candidates) != 1:
        STATE.why = f"calibration found {len(candidates)} candidate counters"
        return
    STATE.offset = candidates[0] * 4
    STATE.available = True
    STATE.why = ""
    ROOM = _Thread()


_calibrate()


def arm() -> None:
    """An unguarded host callback exists: entries into wasm check from now on."""
    if STATE.available:
        STATE.armed = True


def remaining() -> int:
    """Python frames this thread may still push (CPython's own counter)."""
    assert ROOM is not None
    return ROOM.counter.value


def check() -> None:
    """Raise ``RecursionError`` unless an unguarded trampoline could start and fail cleanly below here."""
    if ROOM.counter.value < NEEDED:  # type: ignore[union-attr]
        raise RecursionError("maximum recursion depth exceeded (wasmjit: no room left for a host callback)")
