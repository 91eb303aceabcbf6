"""Typed calls into wasm: ``wasmjit.typed(store, func)``.

The wasm type is read once.  The returned callable owns one argument/result
buffer (16-byte slots plus a trap cell) and calls
``wasmtime_func_call_unchecked`` on it; its code comes from the same plans
and backends as callbacks.

Re-entrancy and threads: a call that finds the buffer busy is either the
same callable called again from a host callback during its own call — made
through a sibling caller with a buffer of its own — or a call from another
thread while one is under way, which raises: wasmtime forbids using one
store from two threads at once, and sharing the buffer would hand one
thread the other's result (see :class:`_Busy`).
"""

from __future__ import annotations

import collections.abc
import ctypes
import inspect
import sys
import typing
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Protocol, Tuple, overload, runtime_checkable

import wasmtime
from typing_extensions import Annotated, ParamSpec, TypeVar, get_args, get_origin

from .backends import bind
from .boundary import ffi, memories, wasmtime_py
from .boundary.failures import CallFailure, check_store
from .boundary.guest import GuestAccess, guest_access
from .boundary.lifetimes import CallOwner
from .model.kinds import GuestValue, Kind, externref, f32, f64, funcref, i32, i64, v128
from .model.plan import CallBindings, Flavour, Plan, call_plan
from .model.signature import Signature, Value, _results_of, _value_of, kinds_of_functype

if TYPE_CHECKING:
    from typing_extensions import TypeForm

__all__ = ["typed", "TypedFunc"]

# The parameters and result a typed caller is called with, for type checkers.
# With their defaults, a bare ``TypedFunc`` is ``TypedFunc[..., Any]``.
_P = ParamSpec("_P", default=...)
_R = TypeVar("_R", default=Any)
_R_co = TypeVar("_R_co", covariant=True, default=Any)


@runtime_checkable
class TypedFunc(Protocol[_P, _R_co]):
    """What :func:`typed` returns: a plain function bound to its store.

    For type checkers it is generic in its parameters and result:
    ``typed(store, f, Callable[[i32, i32], i32])`` is a
    ``TypedFunc[[int, int], int]``, callable as ``(int, int) -> int``; without
    ``signature=`` it is a ``TypedFunc[..., Any]``.
    """

    backend: str
    """Which backend built it: ``"bytecode"``, ``"source"`` or ``"reflect"``."""
    signature: Signature
    """The wasm signature of the function it calls."""

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R_co: ...


def _aligned_buffer(size: int) -> Tuple[Any, int]:
    """A zeroed buffer of ``size`` bytes whose address is 16-byte aligned."""
    raw = (ctypes.c_uint8 * (size + 16))()
    base = ctypes.addressof(raw)
    offset = (-base) % 16
    view = (ctypes.c_uint8 * size).from_buffer(raw, offset)
    return view, base + offset


def _declared(declared: Any, signature: Signature) -> Signature:
    """``declared`` is a ``Callable[[...], ...]`` type; it must match ``signature`` (the wasm type).

    Returns the signature it declares: the wasm type, with guest data
    (``wasmjit.Str``, ``wasmjit.Bytes``) where it says so.
    """
    if get_origin(declared) not in (typing.Callable, collections.abc.Callable):
        raise TypeError(f"signature= expects a Callable[[...], ...] type, got {declared!r}")
    args = get_args(declared)
    if len(args) != 2:
        raise TypeError(f"signature= must list its parameter and result types, got {declared!r}")
    params, returns = args
    if params is Ellipsis:
        raise TypeError("signature= must list its parameter types, not Callable[..., ...]")
    values = tuple(_value_of(p, f"parameter {i} of signature=") for i, p in enumerate(params))
    results, _ = _results_of(returns, "the result of signature=")
    # As without signature=: one result is returned bare, several as a tuple.
    said = Signature.of_values(values, results, False, len(results) > 1)
    if said.params != signature.params or said.results != signature.results:
        raise TypeError(f"signature= says {said} but the wasm function is {signature}")
    return said


# Overloads for type checkers (PEP 747 ``TypeForm``): ``signature=`` is a type
# expression, and the caller is typed as it says.  One result is returned bare
# even when written ``tuple[R]``.
@overload
def typed(
    store: wasmtime.Store,
    func: wasmtime.Func,
    signature: "TypeForm[Callable[_P, Tuple[_R]]]",
    *,
    name: Optional[str] = None,
    instance: Optional[wasmtime.Instance] = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> "TypedFunc[_P, _R]": ...


@overload
def typed(
    store: wasmtime.Store,
    func: wasmtime.Func,
    signature: "TypeForm[Callable[_P, _R]]",
    *,
    name: Optional[str] = None,
    instance: Optional[wasmtime.Instance] = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> "TypedFunc[_P, _R]": ...


@overload
def typed(
    store: wasmtime.Store,
    func: wasmtime.Func,
    signature: None = None,
    *,
    name: Optional[str] = None,
    instance: Optional[wasmtime.Instance] = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> "TypedFunc[..., Any]": ...


def typed(
    store: wasmtime.Store,
    func: wasmtime.Func,
    signature: Any = None,
    *,
    name: Optional[str] = None,
    instance: Optional[wasmtime.Instance] = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> "TypedFunc[..., Any]":
    """A specialised caller of ``func`` in ``store``: ``add = typed(store, f); add(1, 2)``.

    The wasm type is read once, now.  The result takes positional arguments
    only; no results return ``None``, one returns the value, several a
    ``tuple`` (wasmtime-py's ``Func.__call__`` returns a list).
    ``signature=`` optionally states the expected type (``Callable[[i32,
    i32], i32]``) and is checked now (``TypeError`` if it differs).
    ``name=`` names the function in error messages, and is its
    ``__name__``.  ``dynamic_code=`` and ``backend=`` choose the backend as
    for callbacks.  ``inspect.signature()`` and ``help()`` show the wasm
    types: positional-only parameters ``a0``, ``a1``, ... annotated with
    the markers (``wasmjit.i32``, ...), and the result.

    Type checkers see ``TypedFunc[[int, int], int]`` for
    ``signature=Callable[[i32, i32], i32]`` (PEP 747 ``TypeForm``; mypy 2,
    pyright), and ``TypedFunc[..., Any]`` without ``signature=``.

    Guest data: ``signature=`` may declare ``wasmjit.Str``/``wasmjit.Bytes``
    (or ``Annotated[str, wasmjit.Guest(alloc=..., free=...)]``) where the
    wasm function takes or returns an ``(address, length)`` pair; those
    values live in the memory of ``instance=``, arguments are copied in
    through its allocator export, results are read back (and, with
    ``free=``, everything allocated is released through that export).

    Raises ``ValueError`` if ``func`` belongs to another store or ``store``
    is closed (also when called after ``store.close()``).  At call time,
    traps raise ``wasmtime.Trap``; an exception raised by a host callback
    during the call is re-raised, the same object.
    """
    function, _ = specialise(
        store, func, signature, name=name, dynamic_code=dynamic_code, backend=backend, instance=instance
    )
    _describe(function, name)
    return function


_MARKERS: Dict[Kind, Any] = {
    Kind.I32: i32,
    Kind.I64: i64,
    Kind.F32: f32,
    Kind.F64: f64,
    Kind.V128: v128,
    Kind.FUNCREF: funcref,
    Kind.EXTERNREF: externref,
}


def _annotation_of(value: Value) -> Any:
    """The annotation that stands for one Python value of a signature: a marker, or guest data."""
    if isinstance(value, GuestValue):
        return Annotated[str if value.text else bytes, value.guest]
    return _MARKERS[value]


def python_signature(signature: Signature) -> inspect.Signature:
    """``signature`` as Python sees a typed caller of it: ``(a0: i32, a1: i32, /) -> i32``."""
    parameters = [
        inspect.Parameter(f"a{index}", inspect.Parameter.POSITIONAL_ONLY, annotation=_annotation_of(value))
        for index, (_, value) in enumerate(signature.param_values)
    ]
    results = tuple(_annotation_of(value) for _, value in signature.result_values)
    returns: Any
    if signature.results_as_tuple:
        returns = Tuple[results]
    else:
        returns = results[0] if results else None
    return inspect.Signature(parameters, return_annotation=returns)


def _describe(function: Any, name: Optional[str]) -> None:
    """Give a typed caller the ``__signature__`` and ``__doc__`` ``help()`` shows."""
    signature: Signature = function.signature
    function.__signature__ = python_signature(signature)
    what = f"the wasm function {name!r}" if name else "a wasm function"
    count = len(signature.result_values)
    returns = "None" if count == 0 else "its result" if count == 1 else "its results as a tuple"
    function.__doc__ = (
        f"Call {what} of type {signature}.\n\n"
        f"A wasmjit typed call ({function.backend} backend): positional arguments only; returns {returns}."
    )


_DEFAULT_NAME = "wasm function"


def store_id(store: wasmtime.Store) -> int:
    """The id wasmtime gives ``store`` (cached per store)."""
    found = memories.store_ids.get(store)
    if found is None:
        found = memories.store_ids[store] = memories.store_id(wasmtime_py.store_context(store))
    return found


def specialise(
    store: wasmtime.Store,
    func: wasmtime.Func,
    signature: Any = None,
    *,
    name: Optional[str] = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
    flavour: Flavour = Flavour.WASMJIT,
    instance: Optional[wasmtime.Instance] = None,
) -> "Tuple[TypedFunc, int]":
    """The specialised caller of ``func`` and its number of parameters."""
    store = check_store(store)
    if not isinstance(func, wasmtime.Func):
        raise TypeError(f"expected a wasmtime.Func, got {type(func).__name__}")
    if wasmtime_py.func_handle(func).store_id != store_id(store):
        raise ValueError("this wasmtime.Func belongs to another store")
    params, results = kinds_of_functype(func.type(store))
    if flavour is Flavour.WASMTIME and Kind.V128 in params + results:
        raise TypeError("v128 is not a wasmtime-py value type")
    sig = Signature(params, results, False, len(results) > 1)
    if signature is not None:
        sig = _declared(signature, sig)
    plan = call_plan(sig, flavour)
    access = guest_access(store, instance, plan)
    function = _typed_caller(store, func, plan, dynamic_code, backend, name, access)
    return function, len(params)


class _Busy:
    """The ``nested`` of a typed caller: a call that found its buffer busy.

    Only the slow path pays for telling the two cases apart: a re-entered
    call has the busy caller's own frame on its thread's stack (a frame
    running its code with its guard); a call from another thread has not.
    Re-entered calls go through a sibling caller with a buffer of its own
    (kept for the next time); calls from another thread raise.
    """

    __slots__ = ("_build", "_caller", "_free", "guard")

    def __init__(self, guard: Any, build: "typing.Callable[[], TypedFunc]") -> None:
        self.guard = guard
        # A weak reference: the caller's code holds this object among its
        # constants, and the cycle collector does not look into code objects.
        self._caller: Any = None
        self._build = build
        self._free: "list[TypedFunc]" = []

    @property
    def caller(self) -> Any:
        return self._caller()

    @caller.setter
    def caller(self, function: Any) -> None:
        self._caller = weakref.ref(function)

    def _reentered(self) -> bool:
        code = self.caller.__code__
        # Above: this method, __call__, and the typed call that found the buffer busy.
        frame = sys._getframe(3)
        while frame is not None:
            if frame.f_code is code and frame.f_locals.get("guard", self.guard) is self.guard:
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def __call__(self, *args: Any) -> Any:
        if not self._reentered():
            raise RuntimeError(
                f"{self.caller.__qualname__}() was called from another thread while a call is under way; "
                "a wasmtime.Store must not be used from two threads at once"
            )
        try:
            sibling = self._free.pop()
        except IndexError:
            sibling = self._build()
        try:
            return sibling(*args)
        finally:
            self._free.append(sibling)


def _typed_caller(
    store: wasmtime.Store,
    func: wasmtime.Func,
    plan: Plan,
    dynamic_code: Optional[bool],
    backend: Optional[str],
    name: Optional[str],
    guests: Optional[GuestAccess] = None,
) -> TypedFunc:
    """Bind ``func`` of ``store`` into a trampoline of ``plan``: the typed caller."""
    context = wasmtime_py.store_context(store)
    if plan.flavour is Flavour.WASMTIME and not isinstance(store, weakref.ProxyType):
        # Under install(), wasmtime-py's Func objects and wasmjit's caches must
        # not keep a store alive that stock wasmtime-py would free.
        store = weakref.proxy(store)
    buffer, buffer_address = _aligned_buffer(plan.buffer_size)
    func_copy = ffi.FuncStruct.from_buffer_copy(wasmtime_py.func_handle(func))
    failure = CallFailure(plan, name or _DEFAULT_NAME, buffer, context, qualname=name or plan.name)
    if plan.flavour is Flavour.WASMTIME:
        failure.follow_wasmtime(store)
    busy = _Busy(failure.guard, lambda: _typed_caller(store, func, plan, dynamic_code, template.backend, name, guests))
    bindings = CallBindings(
        store=store,
        buffer=buffer,
        context=ctypes.c_void_p(context),
        func=ctypes.c_void_p(ctypes.addressof(func_copy)),
        buffer_address=ctypes.c_void_p(buffer_address),
        nslots=ctypes.c_size_t(plan.slots),
        trap_address=ctypes.c_void_p(buffer_address + plan.trap_offset),
        fail=failure.fail,
        encode_exact=failure.encode_exact,
        too_many=failure.too_many,
        guard=failure.guard,
        nested=busy,
        interrupted=failure.interrupted,
        guests=guests,
        trap_cell=(ctypes.c_uint64 * 1).from_buffer(buffer, plan.trap_offset),
    )
    template, function, _skipped = bind(plan, bindings, dynamic_code, backend, name)
    busy.caller = function
    function.backend = template.backend  # type: ignore[attr-defined]
    function.signature = plan.signature  # type: ignore[attr-defined]
    # What the raw addresses above point into must live as long as the function.
    function.__wasmjit__ = CallOwner(template, func_copy, buffer, failure, func)  # type: ignore[attr-defined]
    return typing.cast(TypedFunc, function)
