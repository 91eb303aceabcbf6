"""Owners of everything wasmtime can call or read, released by wasmtime.

When wasmjit hands wasmtime a trampoline, wasmtime keeps a raw pointer to
the ctypes thunk and, through it, to the Python trampoline and callable.
Those must outlive every possible call.  Each registration therefore puts
an :class:`Owner` in :data:`_owners` under a fresh integer, passes that
integer to wasmtime as the function's ``env``, and gives wasmtime
:data:`FINALIZER` to call when it drops the function (with its store, or
with its linker).  Only then is the owner released.

A typed call needs no registration: wasmtime reads its buffer and function
only during the call.  Its :class:`CallOwner` hangs on the function itself
(``__wasmjit__``), so whatever the raw addresses bound into it point to lives
exactly as long as the function.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict

from . import ffi

__all__ = ["Owner", "CallOwner", "register", "live_owners", "FINALIZER_ADDRESS"]


@dataclass
class Owner:
    """What must stay alive while wasmtime may call one host function."""

    thunk: Any
    """The ctypes CFUNCTYPE object wasmtime calls."""
    trampoline: Callable[..., Any]
    callback: Callable[..., Any]
    functype: Any
    """The ``wasmtime.FuncType`` handed to wasmtime."""
    template: Any
    """The backend template that bound the trampoline."""

    @property
    def backend(self) -> str:
        return str(self.template.backend)


@dataclass
class CallOwner:
    """What the raw addresses bound into one typed call point to."""

    template: Any
    """The backend template that bound the caller."""
    func_handle: Any
    """wasmjit's own copy of the ``wasmtime_func_t`` (its address is bound)."""
    buffer: Any
    """The argument/result buffer (its address is bound)."""
    failure: Any
    """The call's failure paths."""
    func: Any
    """The ``wasmtime.Func`` it calls."""

    @property
    def backend(self) -> str:
        return str(self.template.backend)


_owners: Dict[int, Owner] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


def register(owner: Owner) -> int:
    """Keep ``owner`` alive; return the ``env`` handle for wasmtime."""
    with _lock:
        handle = next(_ids)
    _owners[handle] = owner
    return handle


def release(handle: int) -> None:
    """Release a registration wasmtime will not finalize (it refused the function)."""
    _owners.pop(handle, None)


#: The finalizer wasmtime calls with a registration's handle.  It is the
#: dict's own ``pop``, a C function: no Python frame runs in it, so a signal
#: that arrives meanwhile is not raised there (where ctypes would swallow it)
#: but at Python's next check.  Handles start at 1, never NULL.
FINALIZER = ffi.Finalizer(_owners.pop)
FINALIZER_ADDRESS: int = int(ctypes.cast(FINALIZER, ctypes.c_void_p).value or 0)


def live_owners() -> int:
    """How many registrations wasmtime has not released yet."""
    return len(_owners)
