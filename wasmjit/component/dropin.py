"""What :func:`wasmjit.install` does for ``wasmtime.component``.

* ``Func.__call__(store, *args)`` goes through a typed caller of the
  ``stock`` mode, cached per store and function (a ``Func`` object is made
  afresh by every ``get_func``; the cache key is its ``wasmtime_component_func_t``);
* ``LinkerInstance.add_func(name, fn)`` registers a host function of the
  ``stock`` mode: ``fn(store_context, *args)`` as wasmtime-py calls it.

Values and errors stay wasmtime-py's: the ``stock`` mode accepts exactly
what wasmtime-py accepts, and hands anything its fast path refuses (a wrong
type, an out-of-range integer that wasmtime-py would wrap silently, a wrong
number of arguments, a closed store, a ``StoreContext``) to wasmtime-py's own
method, which then does what it always did.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Any, Callable, Dict, Tuple

import wasmtime
from wasmtime import _bindings as _b
from wasmtime import component as _c

from ..boundary import wasmtime_py
from ..model import wit
from ..model.shapes import STOCK
from .callbacks import HostFunction, register
from .calls import _typed, func_wit_type

__all__ = ["PATCHES", "clear"]

_CONTEXT_POINTER = ctypes.POINTER(_b.wasmtime_context_t)

_Entry = Tuple[int, Callable[..., Any]]
#: On a Func object: (weak reference to the store, number of parameters, typed caller).
_ON_FUNC = "_wasmjit_component_call"
_per_store: "weakref.WeakKeyDictionary[wasmtime.Store, Dict[bytes, _Entry]]" = weakref.WeakKeyDictionary()
_original_call: Callable[..., Any] = _c.Func.__call__
_original_add_func: Callable[..., Any] = _c.LinkerInstance.add_func


def clear() -> None:
    _per_store.clear()


def _new_entry(func: Any, store: wasmtime.Store) -> _Entry:
    func_type = func_wit_type(store, func)
    # Nothing cached refers to the store strongly: it is freed when stock would free it.
    proxy = weakref.proxy(store)
    original = wasmtime_py.func_handle(func)
    handle = type(original).from_buffer_copy(original)
    stock_func = _c.Func._from_raw(handle)

    def stock_call(*args: Any) -> Any:
        return _original_call(stock_func, proxy, *args)

    shapes = tuple(STOCK for _ in func_type.params)
    typed = _typed(proxy, func, func_type, shapes, STOCK, "stock", None, None, None, stock_call)
    return len(func_type.params), typed


_is_closed = wasmtime_py.store_is_closed


def _func_call(self: Any, store: Any, *params: Any) -> Any:
    cached = self.__dict__.get(_ON_FUNC)
    if cached is not None and cached[0]() is store and len(params) == cached[1] and not _is_closed(store):
        return cached[2](*params)
    if type(store) is not wasmtime.Store or wasmtime_py.store_is_closed(store):
        return _original_call(self, store, *params)
    table = _per_store.get(store)
    if table is None:
        table = _per_store[store] = {}
    key = bytes(wasmtime_py.func_handle(self))
    entry = table.get(key)
    if entry is None:
        try:
            entry = table[key] = _new_entry(self, store)
        except TypeError:  # a WIT type wasmjit does not specialise
            return _original_call(self, store, *params)
    self.__dict__[_ON_FUNC] = (weakref.ref(store), entry[0], entry[1])
    if len(params) != entry[0]:
        return _original_call(self, store, *params)
    return entry[1](*params)


def _stock_callback(fn: Callable[..., Any]) -> Callable[..., Any]:
    def callback(context: int, *args: Any) -> Any:
        store = wasmtime.StoreContext(ctypes.cast(context, _CONTEXT_POINTER))
        try:
            return fn(store, *args)
        finally:
            store._invalidate()

    return callback


class _StockHost(HostFunction):
    """A host function with wasmtime-py's calling convention and checks."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        super().__init__(_stock_callback(fn), name, None, None, mode="stock", stock_callback=fn)
        self._user = fn

    def _specialise(self, func_type: wit.FuncType) -> Callable[..., Any]:
        if func_type.result is None:
            # wasmtime-py asserts that a function without a result returns None.
            user = self._user

            def checked(store: Any, *args: Any) -> None:
                result = user(store, *args)
                assert result is None

            self.callback = _stock_callback(checked)
        else:
            self.callback = _stock_callback(self._user)
        return super()._specialise(func_type)


def _add_func(self: Any, name: str, func: Any) -> None:
    self._assert_not_locked()
    register(self, name, _StockHost(func, name))


#: (class, method name, replacement) for every component method install() replaces.
PATCHES: Tuple[Tuple[type, str, Callable[..., Any]], ...] = (
    (_c.Func, "__call__", _func_call),
    (_c.LinkerInstance, "add_func", _add_func),
)
