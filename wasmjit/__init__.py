"""wasmjit: fast calls across the Python <-> WebAssembly boundary on wasmtime.

* :meth:`Function.from_callback` — host functions (wasm -> Python) with a
  trampoline specialised for their signature.
* :func:`typed` — callers of wasm functions (Python -> wasm) specialised the
  same way; :func:`exports` — a typed caller for every export of an instance.
* :func:`install` — the same trampolines for unmodified wasmtime-py code.
* :class:`Memory` (and ``Caller.memory()``) — fast, bounds-checked guest memory.

Both build one *plan* per signature and render it with one of three
backends: ``bytecode``, ``source`` or ``reflect`` (see :mod:`wasmjit.backends`).
"""

from __future__ import annotations

from typing import Any, Dict

from .backends import generation_count, get_dynamic_code, probe, set_dynamic_code
from .boundary import errors as _errors  # noqa: F401 - installs the exception bridge
from .boundary.caller import Caller
from .boundary.errors import DynamicCodeUnavailable
from .callbacks import Function, Linker
from .calls import TypedFunc, typed
from .dropin import install, installed, uninstall
from .exports import Exports, exports
from .memory import Memory, OutOfBounds
from .model.kinds import Bytes, Guest, Kind, Str, externref, f32, f64, funcref, i32, i64, v128
from .model.signature import Signature

__version__ = "0.1.0"

__all__ = [
    "Function",
    "Linker",
    "Caller",
    "Memory",
    "OutOfBounds",
    "typed",
    "TypedFunc",
    "exports",
    "Exports",
    "install",
    "uninstall",
    "installed",
    "explain",
    "probe",
    "set_dynamic_code",
    "get_dynamic_code",
    "generation_count",
    "DynamicCodeUnavailable",
    "Signature",
    "Kind",
    "i32",
    "i64",
    "f32",
    "f64",
    "v128",
    "funcref",
    "externref",
    "Guest",
    "Str",
    "Bytes",
]


def explain(function: Any) -> str:
    """A readable listing of the trampoline behind a ``Function``, a typed call, or a component one.

    ``source``: the generated Python; ``bytecode``: its disassembly and the
    equivalent Python; ``reflect``: the plan it interprets.  Also takes a
    ``wasmtime.Func`` built while :func:`install` was active.  Raises
    ``TypeError`` for anything else.  Component callers
    (:func:`wasmjit.component.typed`) and host functions
    (:func:`wasmjit.component.define_callback`) are listed the same way.
    """
    listing = getattr(function, "_wasmjit_listing", None)
    if listing is not None:  # a component host function: one trampoline per WIT type it was called with
        return str(listing())
    prepared = getattr(function, "_prepared", None) or getattr(function, "_wasmjit_prepared", None)
    if prepared is not None:  # a Function, or a wasmtime.Func built under install()
        owner = prepared.owner
        trampoline: Any = owner.trampoline
        header = f"{prepared.name}: {prepared.signature} -> {owner.backend} backend"
        skipped: Dict[str, str] = prepared.skipped
    elif hasattr(function, "__wasmjit__"):
        owner = function.__wasmjit__
        trampoline = function
        header = f"typed call {function.signature} -> {owner.backend} backend"
        skipped = {}
    else:
        raise TypeError(
            f"explain() takes a wasmjit.Function, a wasmtime.Func built under install() or a typed call, "
            f"not {type(function).__name__}"
        )
    parts = [header]
    parts.extend(f"  skipped {backend}: {why}" for backend, why in skipped.items())
    parts.append("")
    parts.append(owner.template.listing(trampoline))
    return "\n".join(parts)
