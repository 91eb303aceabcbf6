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
  before its ``try``, or in a function that prologue called, or in
  wasmtime-py's externref finalizer, the wrapper records the interrupt
  instead of raising it, and the next interrupt point raises it.  Anywhere
  else the wrapper is ``signal.default_int_handler``.
* The ``bytecode`` backend also starts its trampolines with an instruction
  that handles no signals (``RESUME`` with the "after yield from" argument,
  CPython 3.11-3.13), so even under a custom SIGINT handler the first check
  happens inside the ``try``.

wasmjit's own finalizer (``lifetimes.FINALIZER``) is a C function, so no
Python frame runs in it at all.
"""

from __future__ import annotations

import dis
import signal
import sys
import threading
import types
from typing import Any, Dict, Optional, Tuple

import wasmtime._slab
import wasmtime._value

__all__ = ["STATE", "raise_interrupt", "register_entry", "ensure_deferring_handler"]


class _State:
    """``pending`` is True while an interrupt waits for an interrupt point."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = False


STATE = _State()

#: Trampoline code objects -> offset of the first instruction inside their ``try``.
#: (Keyed by identity: hashing a code object hashes its constants, and a
#: bytecode trampoline's include an unhashable memoryview.)
_entry_codes: Dict[int, Tuple[types.CodeType, int]] = {}
_installed = False
_wasmtime_value_file = getattr(wasmtime._value, "__file__", "")
_wasmtime_slab_file = getattr(wasmtime._slab, "__file__", "")


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
    _entry_codes[id(code)] = (code, _protected_offset(code))


def raise_interrupt() -> None:
    """Raise the interrupt recorded at a trampoline's entry."""
    STATE.pending = False
    raise KeyboardInterrupt


def _defer_whole(code: types.CodeType) -> bool:
    """wasmtime-py's externref finalizer and the slab method it calls: no ``try`` at all."""
    return (code.co_name == "_externref_finalizer" and code.co_filename == _wasmtime_value_file) or (
        code.co_name == "deallocate" and code.co_filename == _wasmtime_slab_file
    )


def _before_try(frame: Optional[types.FrameType]) -> bool:
    for candidate in (frame, frame.f_back if frame is not None else None):
        if candidate is not None:
            code = candidate.f_code
            entry = _entry_codes.get(id(code))
            if entry is not None and entry[0] is code and candidate.f_lasti < entry[1]:
                return True
            if _defer_whole(code):
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
