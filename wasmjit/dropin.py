"""``wasmjit.install()``: unmodified wasmtime-py code on wasmjit's trampolines.

While installed:

* ``wasmtime.Func(store, ty, fn, access_caller=...)`` builds a specialised
  trampoline from ``ty`` (annotations are neither needed nor consulted);
* ``wasmtime.Linker.define_func(...)`` likewise, store-independent;
* ``Func.__call__(store, *args)`` goes through a specialised caller, cached
  on the ``Func`` object and, for ``Func`` objects created afresh for the
  same function, in a small per-store table of bounded size.

Behaviour stays wasmtime-py's: its value conversions (``Val`` arguments,
silent integer wrapping, floats only for floats), its exception types and
messages, several results as a ``list``, a ``Caller`` invalidated after the
call.  Plans of the ``"wasmtime"`` flavour encode these rules; values that
are exactly ``int`` or ``float`` take the fast path, everything else goes
through ``wasmtime.Val`` exactly as wasmtime-py would.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple

import wasmtime

from .boundary import wasmtime_py
from .model.kinds import Kind
from .model.plan import Flavour

__all__ = ["install", "uninstall", "installed", "CALLERS_PER_STORE"]

#: How many specialised callers each store keeps for ``Func`` objects that are
#: created afresh (``instance.exports(store)["f"]`` in a loop).
CALLERS_PER_STORE = 256

_lock = threading.Lock()
_originals: Dict[str, Any] = {}

#: (weak reference to the store, number of params, typed function).  Nothing
#: cached here refers to a store strongly (the typed callers of the
#: ``"wasmtime"`` flavour hold a proxy): a store is freed when stock would free it.
_Caller = Tuple["weakref.ref[wasmtime.Store]", int, Callable[..., Any]]
_per_store: "weakref.WeakKeyDictionary[wasmtime.Store, OrderedDict[bytes, _Caller]]" = weakref.WeakKeyDictionary()


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_originals)


def install() -> None:
    """Route wasmtime-py's ``Func``, ``Linker.define_func`` and ``Func.__call__`` through wasmjit.

    Idempotent; :func:`uninstall` restores wasmtime-py's own methods.
    """
    with _lock:
        if _originals:
            return
        _originals["Func.__init__"] = wasmtime.Func.__init__
        _originals["Func.__call__"] = wasmtime.Func.__call__
        _originals["Linker.define_func"] = wasmtime.Linker.define_func
        wasmtime.Func.__init__ = _func_init  # type: ignore[method-assign,assignment]
        wasmtime.Func.__call__ = _func_call  # type: ignore[method-assign]
        wasmtime.Linker.define_func = _define_func  # type: ignore[method-assign]


def uninstall() -> None:
    """Undo :func:`install` (idempotent)."""
    with _lock:
        if not _originals:
            return
        wasmtime.Func.__init__ = _originals.pop("Func.__init__")  # type: ignore[method-assign]
        wasmtime.Func.__call__ = _originals.pop("Func.__call__")  # type: ignore[method-assign]
        wasmtime.Linker.define_func = _originals.pop("Linker.define_func")  # type: ignore[method-assign]
        _per_store.clear()


def _prepare(engine: wasmtime.Engine, ty: wasmtime.FuncType, func: Callable[..., Any], access_caller: bool) -> Any:
    from .callbacks import PreparedCallback
    from .model.signature import kinds_of_functype

    params, results = kinds_of_functype(ty)
    if Kind.V128 in params + results:
        # wasmtime-py has no v128 values; its own path keeps its behaviour.
        raise TypeError("v128 is not a wasmtime-py value type")
    return PreparedCallback(engine, func, ty, access_caller, None, None, flavour=Flavour.WASMTIME)


def _func_init(
    self: wasmtime.Func,
    store: wasmtime.Store,
    ty: wasmtime.FuncType,
    func: Callable[..., Any],
    access_caller: bool = False,
) -> None:
    if not isinstance(store, wasmtime.Store):
        raise TypeError("expected a Store")
    if not isinstance(ty, wasmtime.FuncType):
        raise TypeError("expected a FuncType")
    try:
        prepared = _prepare(store.engine, ty, func, access_caller)
    except TypeError:
        # A value type wasmjit cannot specialise: wasmtime-py's own path.
        _originals["Func.__init__"](self, store, ty, func, access_caller)
        return
    wasmtime_py.set_func_handle(self, prepared.new_func(store))
    self._wasmjit_prepared = prepared  # type: ignore[attr-defined]


def _define_func(
    self: wasmtime.Linker,
    module: str,
    name: str,
    ty: wasmtime.FuncType,
    func: Callable[..., Any],
    access_caller: bool = False,
) -> None:
    if not isinstance(ty, wasmtime.FuncType):
        raise TypeError("expected a FuncType")
    try:
        prepared = _prepare(self.engine, ty, func, access_caller)
    except TypeError:
        _originals["Linker.define_func"](self, module, name, ty, func, access_caller)
        return
    prepared.define(self, module, name)


def _new_caller(func: wasmtime.Func, store: wasmtime.Store) -> Optional[_Caller]:
    from .calls import specialise

    try:
        typed, nparams = specialise(store, func, flavour=Flavour.WASMTIME)
    except TypeError:
        return None  # a value type wasmjit cannot specialise
    return (weakref.ref(store), nparams, typed)


def _caller_for(func: wasmtime.Func, store: wasmtime.Store) -> Optional[_Caller]:
    key = bytes(wasmtime_py.func_handle(func))
    table = _per_store.get(store)
    if table is None:
        table = _per_store[store] = OrderedDict()
    entry = table.get(key)
    if entry is None:
        entry = _new_caller(func, store)
        if entry is None:
            return None
        table[key] = entry
        if len(table) > CALLERS_PER_STORE:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return entry


def _func_call(self: wasmtime.Func, store: Any, *params: Any) -> Any:
    entry: Optional[_Caller] = self.__dict__.get("_wasmjit_call")
    if entry is None or entry[0]() is not store:
        if not isinstance(store, wasmtime.Store) or wasmtime_py.store_is_closed(store):
            # A Caller, or a closed store: wasmtime-py's own path and errors.
            return _originals["Func.__call__"](self, store, *params)
        entry = _caller_for(self, store)
        if entry is None:
            return _originals["Func.__call__"](self, store, *params)
        self.__dict__["_wasmjit_call"] = entry
    expected = entry[1]
    if len(params) != expected:
        if len(params) > expected:
            raise wasmtime.WasmtimeError(f"too many parameters provided: given {len(params)}, expected {expected}")
        raise wasmtime.WasmtimeError(f"too few parameters provided: given {len(params)}, expected {expected}")
    return entry[2](*params)
