"""Host functions with specialised trampolines: ``Function`` and ``Linker``.

``Function.from_callback(store, callback)`` reads the callable's signature
(annotations, or ``type=``), takes the plan for that signature, asks the
backends for its template (generated once per signature per process), binds
the callable into a fresh trampoline, wraps it in a ctypes thunk, and hands
it to ``wasmtime_func_new_unchecked``.  The result *is* a ``wasmtime.Func``.
"""

from __future__ import annotations

import builtins
import ctypes
import weakref
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

import wasmtime

from .backends import bind
from .boundary import ffi, guard, headroom, lifetimes, wasmtime_py
from .boundary.failures import CallbackFailure, WasmtimeCallbackFailure
from .model.kinds import Kind
from .model.plan import CallbackBindings, Flavour, Plan, callback_plan, guardable
from .model.signature import Signature, callable_name, infer, signature_of_functype

__all__ = ["Function", "Linker"]

_F = TypeVar("_F", bound=Callable[..., Any])

_FuncTypeCache = Dict[Tuple[Tuple[Kind, ...], Tuple[Kind, ...]], wasmtime.FuncType]
_functypes: "weakref.WeakKeyDictionary[wasmtime.Engine, _FuncTypeCache]" = weakref.WeakKeyDictionary()


#: Whether store-bound callbacks are guarded where they can be (see
#: :mod:`wasmjit.boundary.guard`); read at registration.  Off only to measure.
GUARD = True


def _functype_for(
    engine: wasmtime.Engine, params: "Tuple[Kind, ...]", results: "Tuple[Kind, ...]"
) -> wasmtime.FuncType:
    # A wasm_functype_t is bound to the first engine that uses it, so the
    # cache is per engine.
    per_engine = _functypes.get(engine)
    if per_engine is None:
        per_engine = _functypes[engine] = {}
    key = (params, results)
    found = per_engine.get(key)
    if found is None:
        found = per_engine[key] = Signature(params, results).functype()
    return found


class PreparedCallback:
    """A trampoline ready to hand to wasmtime, and everything that owns it."""

    __slots__ = ("engine", "functype", "name", "owner", "plan", "signature", "skipped", "thunk_address")

    def __init__(
        self,
        engine: wasmtime.Engine,
        callback: Callable[..., Any],
        functype: Optional[wasmtime.FuncType],
        access_caller: Optional[bool],
        dynamic_code: Optional[bool],
        backend: Optional[str],
        flavour: Flavour = Flavour.WASMJIT,
        for_store: bool = False,
    ) -> None:
        """``for_store``: the trampoline becomes one store's ``Func`` (:meth:`new_func`),
        which puts it behind the guard shim when its signature allows."""
        if flavour is Flavour.WASMTIME:
            # wasmtime-py's rules: the FuncType alone decides; annotations are not consulted.
            assert functype is not None
            signature = signature_of_functype(functype, bool(access_caller))
            name = callable_name(callback)
        else:
            signature, name = infer(callback, functype, access_caller)
        guarded = GUARD and for_store and guardable(signature)
        plan = callback_plan(signature, flavour, guarded)
        failure = (WasmtimeCallbackFailure if flavour is Flavour.WASMTIME else CallbackFailure)(plan, name)
        template, trampoline, skipped = bind(plan, CallbackBindings(callback, failure), dynamic_code, backend)
        thunk = (ffi.UncheckedVoidCallback if guarded else ffi.UncheckedCallback)(trampoline)
        if not guarded:
            # No shim catches a trampoline that cannot start: entries into
            # wasm keep room for it from now on.
            headroom.arm()
        # wasmtime gets wasmjit's own FuncType for this engine, never the
        # caller's: a wasm_functype_t is bound to the first engine that uses
        # it, and wasmtime aborts the process when another engine uses it.
        functype = _functype_for(engine, *plan.host_kinds)
        self.engine = engine
        self.plan: Plan = plan
        self.signature = signature
        self.name = name
        self.functype = functype
        self.skipped = skipped
        self.owner = lifetimes.Owner(thunk, trampoline, callback, functype, template)
        self.thunk_address = int(ctypes.cast(thunk, ctypes.c_void_p).value or 0)

    def new_func(self, store: wasmtime.Store) -> Any:
        """Hand the trampoline to ``wasmtime_func_new_unchecked``; the new ``wasmtime_func_t``."""
        context = wasmtime_py.store_context(store)  # ValueError when the store is closed
        handle = lifetimes.register(self.owner)
        out = ffi.FuncStruct()
        ffi.func_new_unchecked(
            context,
            ctypes.cast(self.functype.ptr(), ctypes.c_void_p).value,
            self.thunk_address,
            handle,
            lifetimes.FINALIZER_ADDRESS,
            ctypes.addressof(out),
        )
        if self.plan.guarded:
            # What the store's users get is the shim's export, which calls ``out``.
            shim = guard.shim_module(self.engine, self.plan.params, self.plan.results)
            return guard.instantiate_shim(context, shim, out)
        return out

    def define(self, linker: wasmtime.Linker, module: str, name: str) -> None:
        """Hand the trampoline to ``wasmtime_linker_define_func_unchecked`` as ``module.name``."""
        module_bytes = module.encode("utf-8")
        name_bytes = name.encode("utf-8")
        handle = lifetimes.register(self.owner)
        error = ffi.linker_define_func_unchecked(
            ctypes.cast(linker.ptr(), ctypes.c_void_p).value,
            module_bytes,
            len(module_bytes),
            name_bytes,
            len(name_bytes),
            ctypes.cast(self.functype.ptr(), ctypes.c_void_p).value,
            self.thunk_address,
            handle,
            lifetimes.FINALIZER_ADDRESS,
        )
        if error:
            # wasmtime drops (finalizes) the function it did not define; popping again is harmless.
            lifetimes.release(handle)
            raise wasmtime_py.error_from_address(error)


class Function(wasmtime.Func):
    """A ``wasmtime.Func`` whose host callback runs through a specialised trampoline.

    Accepted wherever wasmtime-py accepts a ``Func``.  Build one with
    :meth:`from_callback`; ``Function(store, ty, fn, access_caller=False)``
    mirrors ``wasmtime.Func``'s constructor.
    """

    backend: str
    """Which backend built the trampoline: ``"bytecode"``, ``"source"`` or ``"reflect"``."""
    signature: Signature
    """The wasm signature the trampoline implements."""
    callback: Callable[..., Any]
    """The callable wasm calls."""
    _prepared: PreparedCallback

    def __init__(
        self,
        store: wasmtime.Store,
        ty: wasmtime.FuncType,
        func: Callable[..., Any],
        access_caller: bool = False,
    ) -> None:
        made = Function.from_callback(store, func, type=ty, access_caller=access_caller or None)
        self.__dict__.update(made.__dict__)

    @classmethod
    def from_callback(
        cls,
        store: wasmtime.Store,
        callback: Callable[..., Any],
        *,
        type: Optional[wasmtime.FuncType] = None,
        access_caller: Optional[bool] = None,
        dynamic_code: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> "Function":
        """A host function in ``store`` that calls ``callback``.

        The wasm signature comes from ``callback``'s annotations, or from
        ``type=`` (a ``wasmtime.FuncType``) for callables without usable
        annotations; when both exist they must agree.  A first parameter
        annotated ``wasmtime.Caller`` (or ``access_caller=True``) receives
        the caller.  ``dynamic_code`` chooses the backend (see
        :mod:`wasmjit.backends`); ``backend=`` names one exactly.
        """
        if not isinstance(store, wasmtime.Store):
            raise TypeError(f"expected a wasmtime.Store, got {store.__class__.__name__}")  # `type` is a parameter here
        wasmtime_py.store_context(store)  # ValueError when the store is closed, before any work
        prepared = PreparedCallback(store.engine, callback, type, access_caller, dynamic_code, backend, for_store=True)
        function: Function = cls.__new__(cls)
        wasmtime_py.set_func_handle(function, prepared.new_func(store))
        function._prepared = prepared
        function.backend = prepared.owner.backend
        function.signature = prepared.signature
        function.callback = callback
        return function

    def __repr__(self) -> str:
        return f"<wasmjit.Function {self._prepared.name} {self.signature} via {self.backend}>"


class Linker(wasmtime.Linker):
    """A ``wasmtime.Linker`` that can define store-independent specialised host functions."""

    def define_callback(
        self,
        module: str,
        name: str,
        callback: Callable[..., Any],
        *,
        type: Optional[wasmtime.FuncType] = None,
        access_caller: Optional[bool] = None,
        dynamic_code: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> str:
        """Define ``module.name`` as ``callback`` for every store this linker instantiates in.

        Returns the name of the backend that built the trampoline.
        """
        prepared = PreparedCallback(self.engine, callback, type, access_caller, dynamic_code, backend)
        prepared.define(self, module, name)
        return prepared.owner.backend

    def callback(
        self,
        module: str,
        name: Optional[str] = None,
        *,
        type: Optional[wasmtime.FuncType] = None,
        access_caller: Optional[bool] = None,
        dynamic_code: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> Callable[[_F], _F]:
        """A decorator that defines the function it decorates as ``module.name``.

        ``@linker.callback("env")`` above ``def double(x: i32) -> i32``
        defines ``env.double`` now, as :meth:`define_callback` would, and
        returns ``double`` itself, unchanged: it stays an ordinary Python
        function, callable and testable without wasm.  The import is named
        after the function's ``__name__``, or ``name=``
        (``@linker.callback("env", name="now")``), which a lambda or any
        callable without a ``__name__`` needs.  The keyword options are those
        of :meth:`define_callback`.  A definition that already exists raises
        ``wasmtime.WasmtimeError``, unless the linker allows shadowing.
        """
        if not isinstance(module, str):
            if callable(module):
                raise TypeError(
                    "Linker.callback() takes the import's module name first: "
                    'write @linker.callback("env"), not @linker.callback'
                )
            raise TypeError(f"Linker.callback() module must be a str, not {builtins.type(module).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Linker.callback() name= must be a str, not {builtins.type(name).__name__}")

        def define(callback: _F) -> _F:
            self.define_callback(
                module,
                name if name is not None else _import_name(callback, module),
                callback,
                type=type,
                access_caller=access_caller,
                dynamic_code=dynamic_code,
                backend=backend,
            )
            return callback

        return define


def _import_name(callback: Any, module: str) -> str:
    """The name ``@linker.callback(module)`` defines ``callback`` under: its ``__name__``."""
    found = getattr(callback, "__name__", None)
    if not isinstance(found, str) or not found:
        raise TypeError(
            f"{callback!r} has no __name__ to define it under; "
            f'name the import: @linker.callback({module!r}, name="...")'
        )
    if found == "<lambda>":
        raise TypeError(
            f'a lambda has no name to define it under; name the import: @linker.callback({module!r}, name="...")'
        )
    return found
