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
from .values import CONVERTERS, encode_slow, release

__all__ = ["MISSING", "ResultMismatch", "statics", "CallbackFailure", "CallFailure"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What ``result`` holds in a callback trampoline until the callback returned.
MISSING: Any = _Missing()


class ResultMismatch(Exception):
    """Raised inside a trampoline when results have the wrong shape.

    It never escapes: the failure path replaces it with a ``TypeError``
    naming the function and the position.
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
        "ResultMismatch": ResultMismatch,
        "tuple": tuple,
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


class CallFailure:
    """The ``fail`` and ``encode_exact`` of one typed call."""

    __slots__ = ("_buffer", "_context", "_exact", "_trap_offset", "name", "plan")

    def __init__(self, plan: Plan, name: str, buffer: Any, trap_offset: int, context: int) -> None:
        self.plan = plan
        self.name = name
        self._buffer = buffer
        self._trap_offset = trap_offset
        self._context = context
        self._exact = struct.Struct(plan.exact_format).pack_into

    def encode_exact(self, keep: Optional[List[Any]], *args: Any) -> None:
        """Validate every argument and encode it, or raise saying what is wrong."""
        keep_list: List[Any] = keep if keep is not None else []
        try:
            encoded = [
                encode_slow(kind, value, self._context, keep_list, f"argument {index} of {self.name}")
                for index, (kind, value) in enumerate(zip(self.plan.params, args, strict=False))
            ]
            self._exact(self._buffer, 0, *encoded)
        except BaseException:
            release(keep_list)
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
