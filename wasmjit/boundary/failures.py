"""Failure handling: what a trampoline calls when its fast path does not apply.

The failure paths (:class:`CallbackFailure`, :class:`CallFailure`) run only
when something went wrong or a value needs the exact path (the slow,
validating one); they explain the problem with the function's name and the
value's position, or park an exception for the outermost call to re-raise.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, List, Optional, Tuple

import wasmtime

from ..model.kinds import GuestValue, Kind
from ..model.plan import TRAP_CELL_FORMAT, Plan, guest_writer
from . import errors, ffi, guest, valtypes, wasmtime_py
from .caller import Caller
from .conversions import exact_value, release

__all__ = ["MISSING", "DONE", "ExactPath", "closed_store", "CallbackFailure", "WasmtimeCallbackFailure", "CallFailure"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What ``result`` holds in a callback trampoline until the callback returned.
MISSING: Any = _Missing()


class _Done:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


#: What ``result`` holds once every result is stored: an exception after that
#: (a tracer or profiler raising at the trampoline's 'return' event) crosses
#: wasm as it is; there is nothing left for the exact path to store.
DONE: Any = _Done()


class ExactPath(Exception):
    """Raised inside a trampoline to hand its values to the exact path.

    Results of the wrong shape, or (wasmtime-py's rules) values that are not
    exactly ``int``/``float``.  It never escapes: the exact path stores the
    values, or raises an error naming the function and the position.
    """


_STORE_ALREADY_BOUND = "the store is already bound to a typed call: call {name}(...) without it"


def closed_store() -> None:
    raise ValueError("the store this function is bound to has been closed")


def _describe_value(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class CallbackFailure:
    """The ``fail`` of one callback trampoline: park an exception, or store exactly."""

    __slots__ = ("_exact", "_flag", "_guests", "name", "plan")

    def __init__(self, plan: Plan, name: str) -> None:
        self.plan = plan
        self.name = name
        self._exact = struct.Struct(plan.exact_format).pack_into
        self._guests = guest.helpers(plan) if plan.signature.result_guests else {}
        #: A guarded trampoline's flag offset (see ``Plan.guarded``), or -1.
        self._flag = plan.flag_offset if plan.guarded else -1

    def __call__(
        self,
        exc: BaseException,
        result: Any,
        raw: int,
        caller_ptr: Optional[int],
        caller: Optional[Caller],
        keep: Optional[List[Any]],
        written: Optional[Tuple[int, ...]] = None,
    ) -> Optional[int]:
        if self._flag >= 0:
            self._guarded(exc, result, raw, caller_ptr, keep)
            return None
        try:
            if caller is not None:
                caller._invalidate()
            if keep:
                release(keep)
            if result is MISSING or result is DONE or not isinstance(exc, Exception):
                # The callback (or decoding its parameters) raised, an
                # interrupt arrived, or a hook raised at the trampoline's
                # entry or return: the exception itself crosses wasm.
                return errors.park(exc)
            self.store_exact(result, raw, caller_ptr, written)
            return None
        except BaseException as error:
            return errors.park(error)

    def _guarded(
        self, exc: BaseException, result: Any, raw: int, caller_ptr: Optional[int], keep: Optional[List[Any]]
    ) -> None:
        """A guarded trampoline's failure path: no trap is made (its thunk returns void).

        The trampoline's handler already parked ``exc`` and the flag is 0, so
        the shim traps and the entry re-raises what is parked.  Only the
        exact path, when it stores every result, clears the slot and sets the flag.
        """
        pending = errors.PENDING
        try:
            if keep:
                release(keep)
            if result is MISSING or result is DONE or not isinstance(exc, Exception):
                return None
            self.store_exact(result, raw, caller_ptr)
            pending.exception = None
            ffi.MEMORY[raw + self._flag] = 1
        except BaseException as error:
            pending.exception = error

    def store_exact(
        self, result: Any, raw: int, caller_ptr: Optional[int], written: Optional[Tuple[int, ...]] = None
    ) -> None:
        """Validate every result and store it, or raise saying what is wrong.

        ``written``: the addresses and lengths of the guest data the fast path
        already copied into guest memory (they are not allocated again).
        """
        plan = self.plan
        shape = plan.signature.result_values
        name = self.name
        if not shape:
            if result is not None:
                raise TypeError(f"{name} returned {_describe_value(result)} but its wasm type has no results")
            return
        if plan.signature.results_as_tuple:
            if not isinstance(result, (tuple, list)):
                raise TypeError(f"{name} must return a tuple of {len(shape)} result(s), got {_describe_value(result)}")
            if len(result) != len(shape):
                raise TypeError(f"{name} returned {len(result)} result(s), expected {len(shape)}")
            values = list(result)
        else:
            values = [result]
        context = ffi.caller_context(caller_ptr) if plan.needs_context else None
        keep: List[Any] = []
        try:
            encoded: List[Any] = []
            copied = iter(written or ())
            for position, ((index, value), item) in enumerate(zip(shape, values, strict=True)):
                if isinstance(value, GuestValue):
                    if written:
                        encoded.extend((next(copied), next(copied)))
                    else:
                        encoded.extend(self._guests[guest_writer(index)](caller_ptr, item))
                else:
                    encoded.append(exact_value(value, item, context, keep, f"result {position} of {name}"))
            self._exact(ffi.MEMORY, raw, *encoded)
        finally:
            release(keep)


def _store_val(val: Any, kind: "Kind", context: Any, buffer: Any, offset: int, keep: List[Any]) -> None:
    """Write a ``wasmtime_val_t`` (from ``wasmtime.Val``) into the raw slot at ``offset`` of ``buffer``."""
    of = val.of
    if kind.python_class is not None:  # a number: the union member is named after the kind
        struct.pack_into("<" + kind.read_format, buffer, offset, getattr(of, kind.label))
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
        self._valtypes = [valtypes.valtype(kind) for kind in plan.results]

    def store_exact(
        self, result: Any, raw: int, caller_ptr: Optional[int], written: Optional[Tuple[int, ...]] = None
    ) -> None:
        # (install() specialises FuncTypes only: there is no guest data here.)
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
                val = wasmtime_py.val_for(caller, self._valtypes[index], value)
                _store_val(val, kind, context, ffi.MEMORY, raw + self.plan.slot_offset(index), keep)
        finally:
            release(keep)
            caller._invalidate()


class CallGuard:
    """``busy`` while a call through one typed caller's buffer is under way."""

    __slots__ = ("busy",)

    def __init__(self) -> None:
        self.busy = False


class CallFailure:
    """The ``fail``, ``encode_exact``, ``too_many`` and ``interrupted`` of one typed call."""

    __slots__ = ("_buffer", "_context", "_exact", "_store", "_valtypes", "guard", "name", "plan", "qualname")

    def __init__(self, plan: Plan, name: str, buffer: Any, context: int, qualname: str) -> None:
        self.plan = plan
        self.name = name
        """Names the function in messages about its values."""
        self.qualname = qualname
        """The typed caller's ``__qualname__``, in messages about how it was called."""
        self._buffer = buffer
        self._context = context
        self._exact = struct.Struct(plan.exact_format).pack_into
        self._store: Any = None
        self._valtypes: List[Any] = []
        self.guard = CallGuard()

    def follow_wasmtime(self, store: Any) -> None:
        """Use wasmtime-py's conversions and errors on the exact path (``install()``)."""
        self._store = store
        self._valtypes = [valtypes.valtype(kind) for kind in self.plan.params]

    def too_many(self, args: "tuple[Any, ...]", extra: "tuple[Any, ...]") -> None:
        """Raise the ``TypeError`` for a call given more arguments than the function takes."""
        expected = len(args)
        given = expected + len(extra)
        message = (
            f"{self.qualname}() takes {expected} positional argument{'' if expected == 1 else 's'} "
            f"but {given} {'was' if given == 1 else 'were'} given"
        )
        first = (args + extra)[0]
        if isinstance(first, wasmtime.Store):
            message += f"; {_STORE_ALREADY_BOUND.format(name=self.qualname)}"
        raise TypeError(message)

    def encode_exact(self, exc: BaseException, keep: Optional[List[Any]], *args: Any) -> None:
        """Validate every argument and encode it, or raise saying what is wrong.

        ``exc`` is what stopped the fast path; an interrupt (any
        ``BaseException`` that is not an ``Exception``) is re-raised, not retried.
        """
        keep_list: List[Any] = keep if keep is not None else []
        try:
            if not isinstance(exc, Exception):
                raise exc
            if self._store is not None:
                self._encode_as_wasmtime(keep_list, args)
                return
            if any(isinstance(arg, wasmtime.Store) for arg in args):
                raise TypeError(
                    f"{self.qualname}() was given a wasmtime.Store; {_STORE_ALREADY_BOUND.format(name=self.qualname)}"
                )
            encoded = [
                exact_value(kind, value, self._context, keep_list, f"argument {index} of {self.name}")
                for index, (kind, value) in enumerate(zip(self.plan.params, args, strict=False))
            ]
            self._exact(self._buffer, 0, *encoded)
        except BaseException:
            # The call will not happen: the buffer is free again.
            self.guard.busy = False
            release(keep_list)
            raise

    def _encode_as_wasmtime(self, keep: List[Any], args: "tuple[Any, ...]") -> None:
        for index, (kind, value) in enumerate(zip(self.plan.params, args, strict=False)):
            # ``keep`` gets views into ``val`` for its externrefs, which keep it alive.
            val = wasmtime_py.val_for(self._store, self._valtypes[index], value)
            _store_val(val, kind, self._context, self._buffer, self.plan.slot_offset(index), keep)

    def interrupted(self, exc: BaseException, keep: Optional[List[Any]]) -> None:
        """An exception (an interrupt) was raised as the call into wasm returned: re-raise it.

        Whatever the call left is cleaned up first, so that the next call
        neither finds the buffer busy nor reads this call's trap as its own.
        """
        trap = struct.unpack_from("<" + TRAP_CELL_FORMAT, self._buffer, self.plan.trap_offset)[0]
        struct.pack_into("<" + TRAP_CELL_FORMAT, self._buffer, self.plan.trap_offset, 0)
        self.guard.busy = False
        if keep:
            release(keep)
        if trap:
            wasmtime_py.trap_from_address(trap)  # owned, then dropped: freed
        raise exc

    def fail(self, err: Optional[int], trap: int) -> None:
        """Raise what a failed call produced: a parked exception, a trap or an error."""
        struct.pack_into("<" + TRAP_CELL_FORMAT, self._buffer, self.plan.trap_offset, 0)
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
        errors.raise_if_guard_trap(failure)
        raise failure

    __call__ = fail


def check_store(store: Any) -> "wasmtime.Store":
    if not isinstance(store, wasmtime.Store):
        raise TypeError(f"expected a wasmtime.Store, got {type(store).__name__}")
    wasmtime_py.store_context(store)  # raises ValueError when closed
    return store
