"""What trampolines call at run time: statics per plan and failure paths.

:func:`statics` gives every name a plan's program uses that is the same for
all trampolines of that plan (``struct`` methods, converters, FFI functions).
The failure paths (:class:`CallbackFailure`, :class:`CallFailure`) run only
when something went wrong or a value needs the exact path; they explain the
problem with the function's name and the value's position.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, Dict, List, Optional

import wasmtime

from . import errors, ffi, interrupts
from .caller import Caller
from .plan import Plan
from .values import CONVERTERS, Kind, encode_slow, release

__all__ = ["MISSING", "ExactPath", "statics", "CallbackFailure", "CallFailure"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What ``result`` holds in a callback trampoline until the callback returned.
MISSING: Any = _Missing()


class ExactPath(Exception):
    """Raised inside a trampoline to hand its values to the exact path.

    Results of the wrong shape, or (wasmtime-py's rules) values that are not
    exactly ``int``/``float``.  It never escapes: the exact path stores the
    values, or raises an error naming the function and the position.
    """


def closed_store() -> None:
    raise ValueError("the store this function is bound to has been closed")


_STATICS: Dict[Plan, Dict[str, Any]] = {}


def statics(plan: Plan) -> Dict[str, Any]:
    """Names shared by every trampoline of ``plan``."""
    found = _STATICS.get(plan)
    if found is not None:
        return found
    names: Dict[str, Any] = {
        "MEMORY": ffi.MEMORY,
        "MISSING": MISSING,
        "ExactPath": ExactPath,
        "tuple": tuple,
        "int": int,
        "float": float,
        "BaseException": BaseException,
        "decode": struct.Struct(plan.decode_format).unpack_from,
        "encode": struct.Struct(plan.encode_format).pack_into,
        "release": release,
    }
    if plan.direction == "callback":
        names["interrupts"] = interrupts.STATE
        names["raise_interrupt"] = interrupts.raise_interrupt
        names["caller_context"] = ffi.caller_context
        names["Caller"] = Caller
        names["invalidate"] = Caller._invalidate
    else:
        names["call_unchecked"] = ffi.func_call_unchecked_prebuilt
        names["closed_store"] = closed_store
    for _, conv in plan.decoders + plan.encoders:
        names[conv] = CONVERTERS[conv]
    _STATICS[plan] = names
    return names


def _describe_value(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class CallbackFailure:
    """The ``fail`` of one callback trampoline: park an exception, or store exactly."""

    __slots__ = ("_exact", "name", "plan")

    def __init__(self, plan: Plan, name: str) -> None:
        self.plan = plan
        self.name = name
        self._exact = struct.Struct(plan.exact_format).pack_into

    def __call__(
        self,
        exc: BaseException,
        result: Any,
        raw: int,
        caller_ptr: Optional[int],
        caller: Optional[Caller],
        keep: Optional[List[Any]],
    ) -> Optional[int]:
        try:
            if caller is not None:
                caller._invalidate()
            if keep:
                release(keep)
            if result is MISSING or not isinstance(exc, Exception):
                # The callback (or decoding its parameters) raised, or an
                # interrupt arrived: the exception itself crosses wasm.
                return errors.park(exc)
            self.store_exact(result, raw, caller_ptr)
            return None
        except BaseException as error:
            return errors.park(error)

    def store_exact(self, result: Any, raw: int, caller_ptr: Optional[int]) -> None:
        """Validate every result and store it, or raise saying what is wrong."""
        plan = self.plan
        kinds = plan.results
        name = self.name
        if not kinds:
            if result is not None:
                raise TypeError(f"{name} returned {_describe_value(result)} but its wasm type has no results")
            return
        if plan.signature.results_as_tuple:
            if not isinstance(result, (tuple, list)):
                raise TypeError(f"{name} must return a tuple of {len(kinds)} result(s), got {_describe_value(result)}")
            if len(result) != len(kinds):
                raise TypeError(f"{name} returned {len(result)} result(s), expected {len(kinds)}")
            values = list(result)
        else:
            values = [result]
        context = ffi.caller_context(caller_ptr) if plan.needs_context else None
        keep: List[Any] = []
        try:
            encoded = [
                encode_slow(kind, value, context, keep, f"result {index} of {name}")
                for index, (kind, value) in enumerate(zip(kinds, values, strict=False))
            ]
            self._exact(ffi.MEMORY, raw, *encoded)
        finally:
            release(keep)


def _store_val(val: Any, kind: "Kind", context: Any, buffer: Any, offset: int, keep: List[Any]) -> None:
    """Write a ``wasmtime_val_t`` (from ``wasmtime.Val``) into the raw slot at ``offset`` of ``buffer``."""
    of = val.of
    if kind is Kind.I32:
        struct.pack_into("<i", buffer, offset, of.i32)
    elif kind is Kind.I64:
        struct.pack_into("<q", buffer, offset, of.i64)
    elif kind is Kind.F32:
        struct.pack_into("<f", buffer, offset, of.f32)
    elif kind is Kind.F64:
        struct.pack_into("<d", buffer, offset, of.f64)
    elif kind is Kind.EXTERNREF:
        if of.externref.store_id:
            keep.append(of.externref)  # rooted by the wasmtime_val_t until released
            struct.pack_into("<I", buffer, offset, ffi.externref_to_raw(context, ctypes.addressof(of.externref)))
        else:
            struct.pack_into("<I", buffer, offset, 0)
    elif kind is Kind.FUNCREF:
        raw = ffi.func_to_raw(context, ctypes.addressof(of.funcref)) if of.funcref.store_id else 0
        struct.pack_into("<Q", buffer, offset, raw or 0)
    else:
        raise TypeError(f"wasmtime-py cannot convert {kind} values")


class WasmtimeCallbackFailure(CallbackFailure):
    """``fail`` for callbacks under ``install()``: wasmtime-py's result rules and errors."""

    __slots__ = ("_valtypes",)

    def __init__(self, plan: Plan, name: str) -> None:
        super().__init__(plan, name)
        self._valtypes = [kind.valtype() for kind in plan.results]

    def store_exact(self, result: Any, raw: int, caller_ptr: Optional[int]) -> None:
        # The same steps, checks and messages as wasmtime-py's own trampoline.
        kinds = self.plan.results
        if not kinds:
            if result is not None:
                raise wasmtime.WasmtimeError("callback produced results when it shouldn't")
            return
        if len(kinds) == 1:
            values = [result]
        else:
            if len(result) != len(kinds):
                raise wasmtime.WasmtimeError("callback produced wrong number of results")
            values = list(result)
        caller = Caller(caller_ptr or 0)
        keep: List[Any] = []
        try:
            context = ffi.caller_context(caller_ptr)
            for index, (kind, value) in enumerate(zip(kinds, values, strict=False)):
                val = wasmtime.Val._convert_to_raw(caller, self._valtypes[index], value)
                _store_val(val, kind, context, ffi.MEMORY, raw + index * ffi.SLOT_SIZE, keep)
        finally:
            release(keep)
            caller._invalidate()


class CallFailure:
    """The ``fail`` and ``encode_exact`` of one typed call."""

    __slots__ = ("_buffer", "_context", "_exact", "_store", "_trap_offset", "_valtypes", "name", "plan")

    def __init__(self, plan: Plan, name: str, buffer: Any, trap_offset: int, context: int) -> None:
        self.plan = plan
        self.name = name
        self._buffer = buffer
        self._trap_offset = trap_offset
        self._context = context
        self._exact = struct.Struct(plan.exact_format).pack_into
        self._store: Any = None
        self._valtypes: List[Any] = []

    def follow_wasmtime(self, store: Any) -> None:
        """Use wasmtime-py's conversions and errors on the exact path (``install()``)."""
        self._store = store
        self._valtypes = [kind.valtype() for kind in self.plan.params]

    def encode_exact(self, exc: BaseException, keep: Optional[List[Any]], *args: Any) -> None:
        """Validate every argument and encode it, or raise saying what is wrong.

        ``exc`` is what stopped the fast path; an interrupt (any
        ``BaseException`` that is not an ``Exception``) is re-raised, not retried.
        """
        keep_list: List[Any] = keep if keep is not None else []
        if not isinstance(exc, Exception):
            release(keep_list)
            raise exc
        if self._store is not None:
            self._encode_as_wasmtime(keep_list, args)
            return
        try:
            encoded = [
                encode_slow(kind, value, self._context, keep_list, f"argument {index} of {self.name}")
                for index, (kind, value) in enumerate(zip(self.plan.params, args, strict=False))
            ]
            self._exact(self._buffer, 0, *encoded)
        except BaseException:
            release(keep_list)
            raise

    def _encode_as_wasmtime(self, keep: List[Any], args: "tuple[Any, ...]") -> None:
        try:
            for index, (kind, value) in enumerate(zip(self.plan.params, args, strict=False)):
                # ``keep`` gets views into ``val`` for its externrefs, which keep it alive.
                val = wasmtime.Val._convert_to_raw(self._store, self._valtypes[index], value)
                _store_val(val, kind, self._context, self._buffer, index * ffi.SLOT_SIZE, keep)
        except BaseException:
            release(keep)
            raise

    def fail(self, err: Optional[int], trap: int) -> None:
        """Raise what a failed call produced: a parked exception, a trap or an error."""
        ctypes.c_uint64.from_buffer(self._buffer, self._trap_offset).value = 0
        failure: BaseException
        if trap:
            failure = errors.trap_from_address(trap)
        else:
            assert err is not None
            failure = errors.error_from_address(err)
        pending = errors.take_pending()
        if pending is not None:
            del failure
            raise pending
        raise failure

    __call__ = fail


def check_store(store: Any) -> "wasmtime.Store":
    if not isinstance(store, wasmtime.Store):
        raise TypeError(f"expected a wasmtime.Store, got {type(store).__name__}")
    store._context()  # raises ValueError when closed
    return store
