"""Owners of everything wasmtime can call or read, released by wasmtime.

When wasmjit hands wasmtime a trampoline, wasmtime keeps a raw pointer to
the ctypes thunk and, through it, to the Python trampoline and callable.
Those must outlive every possible call.  Each registration therefore puts
an :class:`Owner` in :data:`_owners` under a fresh integer, passes that
integer to wasmtime as the function's ``env``, and gives wasmtime
:data:`FINALIZER` to call when it drops the function (with its store, or
with its linker).  Only then is the owner released.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict

from . import ffi

__all__ = ["Owner", "register", "live_owners", "FINALIZER_ADDRESS"]


@dataclass
class Owner:
    """What must stay alive while wasmtime may call one function."""

    thunk: Any  # the ctypes CFUNCTYPE object wasmtime calls
    trampoline: Callable[..., Any]
    callback: Callable[..., Any]
    functype: Any  # the wasmtime.FuncType handed to wasmtime
    backend: str
    template: Any = None


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
