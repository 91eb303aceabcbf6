"""Ctrl-C while wasm calls back into Python.

A signal that arrives while wasm runs is handled by Python at its next
check, which is the first instruction of the next trampoline wasm calls.
Raised there, *before* the trampoline's ``try``, the ``KeyboardInterrupt``
would escape into ctypes, which prints and swallows it and hands wasm an
undefined return value: a silently wrong result.

Every callback program has an :class:`~wasmjit.plan.InterruptPoint`, the
first statement inside its ``try``, where an interrupt that arrived at the
trampoline's entry is raised.  Backends honour it in their own way:

* ``bytecode`` starts its trampolines with an instruction that does not
  handle signals (``RESUME`` with the "after yield from" argument on CPython
  3.11-3.13), so the interrupt is handled at the next check, inside the
  ``try``; the interrupt point renders as nothing.
* ``source`` and ``reflect`` trampolines are ordinary Python functions.  For
  them wasmjit wraps the default SIGINT handler (only the default one, and
  only from the main thread): when Python handles SIGINT in a trampoline's
  frame before its ``try`` (or in a function that prologue called), the
  wrapper records it instead of raising, and the interrupt point raises it.
  Anywhere else the wrapper is ``signal.default_int_handler``.
"""

from __future__ import annotations

import dis
import signal
import sys
import threading
import types
from typing import Any, Dict, Optional

__all__ = ["STATE", "raise_interrupt", "register_entry", "ensure_deferring_handler", "deferring_handler_installed"]


class _State:
    """``pending`` is True while an interrupt waits for an interrupt point."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = False


STATE = _State()

#: Trampoline code objects -> offset of the first instruction inside their ``try``.
_entry_codes: Dict[types.CodeType, int] = {}
_installed = False


def _protected_offset(code: types.CodeType) -> int:
    if sys.version_info >= (3, 11):
        entries = dis.Bytecode(code).exception_entries  # type: ignore[attr-defined]
        return min((entry.start for entry in entries), default=len(code.co_code))
    for instruction in dis.get_instructions(code):  # 3.10: a try starts after SETUP_FINALLY
        if instruction.opname == "SETUP_FINALLY":
            return instruction.offset + 2
    return len(code.co_code)


def register_entry(code: types.CodeType) -> None:
    """Mark ``code`` as a trampoline whose frame must not raise before its ``try``."""
    _entry_codes[code] = _protected_offset(code)


def raise_interrupt() -> None:
    """Raise the interrupt recorded at a trampoline's entry."""
    STATE.pending = False
    raise KeyboardInterrupt


def _before_try(frame: Optional[types.FrameType]) -> bool:
    for candidate in (frame, frame.f_back if frame is not None else None):
        if candidate is not None:
            protected = _entry_codes.get(candidate.f_code)
            if protected is not None and candidate.f_lasti < protected:
                return True
    return False


def _deferring_int_handler(signum: int, frame: Optional[types.FrameType]) -> Any:
    if _before_try(frame):
        STATE.pending = True
        return None
    return signal.default_int_handler(signum, frame)


def ensure_deferring_handler() -> None:
    """Install the deferring SIGINT handler if SIGINT still has Python's default one."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _deferring_int_handler)
        _installed = True
    except (ValueError, OSError):  # not the main interpreter, or no SIGINT here
        _installed = True


def deferring_handler_installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _deferring_int_handler
