"""The wasm guard in front of a guarded host callback (issue 12).

A trampoline that cannot start - CPython refuses its frame at the recursion
limit, or a tracer or profiler raises on its 'call' event - never runs its
``try``: ctypes prints the exception and returns whatever is in the return
register.  For wasmtime that is the trap pointer: 0 lets wasm read the
parameters left in the slots as results (a silent wrong value), anything
else is a bogus trap (a crash).

A guarded callback (see ``Plan.guarded``) closes both doors.  Its raw host
function ``H`` has one more slot, the flag, shared by a last parameter and
a last result: ``(P..., pad..., i32 flag) -> (R..., pad..., i32 flag)``.
The shim module below (one per signature, compiled once per engine) imports
``H`` and exports ``f: (P...) -> (R...)``::

    call H(p..., 0...)          ;; the pads and the flag parameter are 0
    if (flag result == 0) unreachable
    drop the result pads        ;; R... stay on the stack

The trampoline writes ``flag = 1`` last, after every result; its ctypes
thunk returns ``void``, so libffi hands wasmtime 0 ("no trap") whether or not
the trampoline ran, and the shim decides.  ``f`` is the ``Func`` the user
gets.  Behind the shim the callback's caller is the shim's instance, so
callbacks that take a ``Caller`` or touch guest data are not guarded.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any, Dict, List, Tuple

import wasmtime

from ..model.kinds import Kind
from . import ffi, wasmtime_py
from .errors import GUARD_MODULE

__all__ = ["shim_wat", "shim_module", "instantiate_shim"]

#: The shim's function, named in trap backtraces.
FUNCTION_NAME = "host_callback_did_not_complete"


def shim_wat(params: "Tuple[Kind, ...]", results: "Tuple[Kind, ...]") -> str:
    """The text of the shim module for a callback of wasm type ``(params) -> (results)``."""
    flag = max(len(params), len(results))
    host_params = [k.label for k in params] + ["i32"] * (flag - len(params) + 1)
    host_results = [k.label for k in results] + ["i32"] * (flag - len(results) + 1)

    def vec(kind: str, labels: "List[str]") -> str:
        return f" ({kind} {' '.join(labels)})" if labels else ""

    body = [f"local.get {i}" for i in range(len(params))]
    body += ["i32.const 0"] * (flag - len(params) + 1)
    body += ["call $host", "i32.eqz", "if", "unreachable", "end"]
    body += ["drop"] * (flag - len(results))
    signature = vec("param", [k.label for k in params]) + vec("result", [k.label for k in results])
    return "\n".join(
        [
            f"(module ${GUARD_MODULE}",
            f'  (import "wasmjit" "host" (func $host{vec("param", host_params)}{vec("result", host_results)}))',
            f'  (func ${FUNCTION_NAME} (export "f"){signature}',
            "    " + "\n    ".join(body),
            "  ))",
        ]
    )


_Key = Tuple[Tuple[Kind, ...], Tuple[Kind, ...]]
_modules: "weakref.WeakKeyDictionary[wasmtime.Engine, Dict[_Key, wasmtime.Module]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


#: Each signature's shim as compiled by earlier engines (``Module.serialize``),
#: at most a few configurations each: a new engine deserializes one of them
#: (tens of microseconds) rather than compiling (hundreds).  wasmtime refuses
#: an artifact compiled for an incompatible configuration; then it compiles.
_artifacts: "Dict[_Key, List[bytes]]" = {}
_ARTIFACTS_PER_SIGNATURE = 4


def _load(engine: wasmtime.Engine, key: _Key) -> wasmtime.Module:
    for artifact in _artifacts.get(key, ()):
        try:
            return wasmtime.Module.deserialize(engine, artifact)
        except wasmtime.WasmtimeError:
            continue
    module = wasmtime.Module(engine, shim_wat(*key))
    known = _artifacts.setdefault(key, [])
    if len(known) < _ARTIFACTS_PER_SIGNATURE:
        known.append(bytes(module.serialize()))
    return module


def shim_module(engine: wasmtime.Engine, params: "Tuple[Kind, ...]", results: "Tuple[Kind, ...]") -> wasmtime.Module:
    """The compiled shim for one signature, once per engine."""
    key = (params, results)
    with _lock:
        per_engine = _modules.get(engine)
        if per_engine is None:
            per_engine = _modules[engine] = {}
        found = per_engine.get(key)
        if found is None:
            found = per_engine[key] = _load(engine, key)
    return found


# Instantiation straight through the C API (wasmtime-py's ``Instance`` costs
# several microseconds of Python per call).

_instance_new = ffi._declare(
    "wasmtime_instance_new",
    ctypes.c_void_p,  # wasmtime_error_t *
    ctypes.c_void_p,  # wasmtime_context_t *
    ctypes.c_void_p,  # const wasmtime_module_t *
    ctypes.c_void_p,  # const wasmtime_extern_t *imports
    ctypes.c_size_t,
    ctypes.c_void_p,  # wasmtime_instance_t *out
    ctypes.c_void_p,  # wasm_trap_t **trap
)
_instance_export_nth = ffi._declare(
    "wasmtime_instance_export_nth",
    ctypes.c_bool,
    ctypes.c_void_p,  # wasmtime_context_t *
    ctypes.c_void_p,  # const wasmtime_instance_t *
    ctypes.c_size_t,
    ctypes.c_void_p,  # char **name
    ctypes.c_void_p,  # size_t *name_len
    ctypes.c_void_p,  # wasmtime_extern_t *item
)

#: Room for a ``wasmtime_instance_t`` (16 bytes today), whatever its version.
_InstanceBuffer = ctypes.c_uint64 * 8


def instantiate_shim(context: int, module: wasmtime.Module, host: Any) -> Any:
    """Instantiate ``module`` in the store of ``context`` importing ``host`` (a ``wasmtime_func_t``).

    Returns the ``wasmtime_func_t`` of its export ``f``.
    """
    item: Any = ffi.ExternStruct()
    item.kind = wasmtime_py.EXTERN_FUNC
    item.of.func = host
    instance = _InstanceBuffer()
    trap = ctypes.c_void_p()
    error = _instance_new(
        context,
        ctypes.cast(module.ptr(), ctypes.c_void_p).value,
        ctypes.addressof(item),
        1,
        ctypes.addressof(instance),
        ctypes.addressof(trap),
    )
    if error:
        raise wasmtime_py.error_from_address(error)
    if trap.value:
        raise wasmtime_py.trap_from_address(trap.value)
    out: Any = ffi.ExternStruct()
    name = ctypes.c_void_p()
    size = ctypes.c_size_t()
    found = _instance_export_nth(
        context, ctypes.addressof(instance), 0, ctypes.addressof(name), ctypes.addressof(size), ctypes.addressof(out)
    )
    if not found or out.kind != wasmtime_py.EXTERN_FUNC:
        raise RuntimeError("the guard shim has no exported function")
    return ffi.FuncStruct.from_buffer_copy(out.of.func)
