"""The boundary machinery of component trampolines: FFI, statics, failures.

What every backend's component trampoline reads besides its bound values
(:func:`statics`), the two FFI entry points (``wasmtime_component_func_call``
and ``wasmtime_component_linker_instance_add_func``, declared on wasmtime's
library as wasmjit's own function objects), and how failures cross:

* a host function that raises parks the exception in this thread's slot
  (:mod:`wasmjit.boundary.errors`) and returns a new ``wasmtime_error_t``;
  the outermost call - a wasmjit typed call, or stock ``Func.__call__``
  (whose ``maybe_raise_last_exn`` wasmjit bridges) - re-raises the same object;
* a call whose host functions failed raises the parked exception, else
  wasmtime-py's ``WasmtimeError`` for the error.
"""

from __future__ import annotations

import ctypes
import importlib
import operator
import struct
from ctypes import CFUNCTYPE, c_char_p, c_size_t, c_void_p
from typing import Any, Dict

from ..model.component_plan import ComponentPlan
from ..model.plan import Direction
from . import component_values as values
from . import errors, ffi, headroom, interrupts, wasmtime_py
from .failures import closed_store

__all__ = [
    "component_call",
    "add_func",
    "HostCallback",
    "statics",
    "raise_error",
    "park",
    "store_context",
]

#: ``wasmtime_error_t *wasmtime_component_func_call(func, context, args, nargs, results, nresults)``,
#: without ``argtypes``: typed calls hand it pre-built ``c_void_p``/``c_size_t`` objects, which
#: ctypes passes through without converting anything (wasmjit's own function object).
component_call = ffi.LIB["wasmtime_component_func_call"]
component_call.restype = c_void_p
#: ``wasmtime_error_t *wasmtime_component_linker_instance_add_func(li, name, len, cb, env, finalizer)``
add_func = ffi._declare(
    "wasmtime_component_linker_instance_add_func", c_void_p, c_void_p, c_char_p, c_size_t, c_void_p, c_void_p, c_void_p
)
error_new = ffi._declare("wasmtime_error_new", c_void_p, c_char_p)
error_delete = ffi._declare("wasmtime_error_delete", None, c_void_p)

#: ``wasmtime_error_t *(*)(void *env, wasmtime_context_t *, const func_type_t *, const val_t *args,
#: size_t nargs, val_t *results, size_t nresults)`` - every pointer an ``int``; the callback returns
#: ``None`` (success) or an error's address (a pointer result: ctypes takes both; a ``size_t`` one
#: would turn ``None`` into an unraisable TypeError and a garbage error pointer).
HostCallback = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)

_component_enter: Any = importlib.import_module("wasmtime.component._enter")

_MESSAGE = b"python exception"


def store_context(store: Any) -> Any:
    """The store's ``wasmtime_context_t`` pointer, ``None`` once the store is closed."""
    return getattr(store, wasmtime_py.STORE_CONTEXT_ATTRIBUTE)


_store_context = operator.attrgetter(wasmtime_py.STORE_CONTEXT_ATTRIBUTE)


def park(exception: BaseException) -> int:
    """Park ``exception`` for this thread; return a new ``wasmtime_error_t`` (an address). Never raises."""
    errors.PENDING.exception = exception
    return int(error_new(_MESSAGE) or 0)


def _take_component_exception() -> Any:
    exception = _component_enter.LAST_EXCEPTION
    _component_enter.LAST_EXCEPTION = None
    return exception


def raise_error(address: int) -> None:
    """Raise for a ``wasmtime_error_t*`` a component call returned: a parked exception first."""
    exception = errors.take_pending() or _take_component_exception()
    if exception is not None:
        error_delete(address)
        try:
            raise exception
        finally:
            exception = None
    raise wasmtime_py.error_from_address(address)


def _bridge_stock_component_calls() -> None:
    # Stock ``wasmtime.component.Func.__call__`` re-raises what its own host
    # functions parked; teach it to look in wasmjit's slot first.
    def maybe_raise_last_exn() -> None:
        exception = errors.take_pending() or _take_component_exception()
        if exception is not None:
            try:
                raise exception
            finally:
                exception = None

    _component_enter.maybe_raise_last_exn = maybe_raise_last_exn

    stock_enter_wasm = _component_enter.enter_wasm

    def enter_wasm(func: Any) -> None:
        # Room for an unguarded host function below stock's entry too (wasmjit.boundary.headroom).
        if headroom.STATE.armed:
            headroom.check()
        stock_enter_wasm(func)

    for name in ("wasmtime.component._enter", "wasmtime.component._func", "wasmtime.component._resources"):
        module = importlib.import_module(name)
        if getattr(module, "enter_wasm", None) is stock_enter_wasm:
            setattr(module, "enter_wasm", enter_wasm)  # noqa: B010 - a module attribute mypy cannot see


_bridge_stock_component_calls()

_STATICS: Dict[ComponentPlan, Dict[str, Any]] = {}


def statics(plan: ComponentPlan) -> Dict[str, Any]:
    """The values every trampoline of ``plan`` shares."""
    found = _STATICS.get(plan)
    if found is not None:
        return found
    names: Dict[str, Any] = {"MEMORY": ffi.MEMORY, "offset": operator.add, "BaseException": BaseException}
    names.update(plan.kind_constants)
    if plan.direction is Direction.CALL:
        names["store_context"] = _store_context
        names["closed_store"] = closed_store
        names["component_call"] = component_call
        names["HEADROOM"] = headroom.STATE
        names["check_headroom"] = headroom.check
        names["ROOM"] = headroom.ROOM
        names["ROOM_NEEDED"] = headroom.NEEDED
        names["NARGS"] = ctypes.c_size_t(len(plan.func_type.params))
        names["NRESULTS"] = ctypes.c_size_t(0 if plan.func_type.result is None else 1)
        if plan.packed:
            names["pack_params"] = struct.Struct(plan.params_format).pack_into
        if plan.result_packed:
            names["unpack_result"] = struct.Struct(plan.result_format).unpack_from
    else:
        names["TypeMismatch"] = values.TypeMismatch
        names["interrupts"] = interrupts.STATE
        names["raise_interrupt"] = interrupts.raise_interrupt
        names["PARAM_KINDS"] = plan.host_checked_kinds
        names["val_clone"] = values.val_clone
        names["BOOL_KIND"] = values.K["bool"]
        if plan.host_unpack_targets:
            names["unpack_params"] = struct.Struct(plan.params_format).unpack_from
        names.update(plan.name_constants)
        for i in plan.flat_records:
            names[f"unpack_fields_{i}"] = struct.Struct(plan.host_fields_format(i)).unpack_from
            make = values.codec(plan.func_type.params[i][1], plan.shapes[i], plan.mode).make
            assert make is not None
            names[f"make_{i}"] = make
        if plan.result_packed:
            names["pack_result"] = struct.Struct(plan.result_format).pack_into
    _STATICS[plan] = names
    return names
