"""Ctrl-C while wasm calls back into Python.

A signal that arrives while wasm runs is handled by Python at its next
check, which is the first instruction of the next Python function wasm
calls through ctypes: a trampoline, or wasmtime-py's externref finalizer.
Raised there, outside any ``try``, the ``KeyboardInterrupt`` would escape
into ctypes, which prints and swallows it and (for a trampoline) hands wasm
an undefined return value: a silently wrong result.

Two mechanisms keep it from happening:

* Every callback program starts its ``try`` with an *interrupt point*:
  ``if interrupts.pending: raise_interrupt()`` (see ``Plan.program``).
  wasmjit wraps the default SIGINT handler (only the default one, and only
  from the main thread): when Python handles SIGINT in a trampoline's frame
  before its ``try`` (where the try could not be widened over the entry,
  see ``Program.try_covers_entry``), or in
  wasmtime-py's externref finalizer, the wrapper records the interrupt
  instead of raising it, and the next interrupt point raises it.  Anywhere
  else the wrapper is ``signal.default_int_handler``.
* The ``bytecode`` backend also starts its trampolines with an instruction
  that handles no signals (``RESUME`` with the "after yield from" argument,
  CPython 3.11-3.15), so even under a custom SIGINT handler the first check
  happens inside the ``try``.

wasmjit's own finalizer (``lifetimes.FINALIZER``) is a C function, so no
Python frame runs in it at all.
"""

from __future__ import annotations

import dis
import signal
import threading
import types
from typing import Any, Dict, Optional, Tuple

from . import wasmtime_py

__all__ = ["STATE", "raise_interrupt", "register_entry", "ensure_deferring_handler"]


class _State:
    """``pending`` is True while an interrupt waits for an interrupt point."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = False


STATE = _State()

_CodeKey = Tuple[str, int, str, bytes]

#: Trampoline code -> offset of the first instruction inside its ``try``.
#: Keyed by what every trampoline of one template shares (filename, first
#: line, name and instructions), not by identity: a bytecode template makes a
#: new code object per binding, and hashing a code object would hash its
#: constants, which include unhashable ones.
_entry_offsets: Dict[_CodeKey, int] = {}
_installed = False


def _key(code: types.CodeType) -> _CodeKey:
    return (code.co_filename, code.co_firstlineno, code.co_name, code.co_code)


def _protected_offset(code: types.CodeType) -> int:
    entries = dis.Bytecode(code).exception_entries  # type: ignore[attr-defined]
    return min((entry.start for entry in entries), default=len(code.co_code))


def register_entry(code: types.CodeType) -> None:
    """Mark ``code`` as a trampoline whose frame must not raise before its ``try``."""
    key = _key(code)
    if key not in _entry_offsets:
        _entry_offsets[key] = _protected_offset(code)


def raise_interrupt() -> None:
    """Raise the interrupt recorded at a trampoline's entry."""
    STATE.pending = False
    raise KeyboardInterrupt


def _before_try(frame: Optional[types.FrameType]) -> bool:
    for candidate in (frame, frame.f_back if frame is not None else None):
        if candidate is not None:
            code = candidate.f_code
            protected = _entry_offsets.get(_key(code))
            if protected is not None and candidate.f_lasti < protected:
                return True
            # wasmtime-py's externref finalizer has no ``try`` at all.
            if wasmtime_py.runs_externref_finalizer(code):
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
