"""``wasmjit.install()``: unmodified wasmtime-py code on wasmjit's trampolines.

While installed:

* ``wasmtime.Func(store, ty, fn, access_caller=...)`` builds a specialised
  trampoline from ``ty`` (annotations are neither needed nor consulted);
* ``wasmtime.Linker.define_func(...)`` likewise, store-independent;
* ``Func.__call__(store, *args)`` goes through a specialised caller, cached
  on the ``Func`` object and, for ``Func`` objects created afresh for the
  same function, in a small per-store table of bounded size;
* ``Memory.read``, ``write``, ``data_ptr``, ``data_len``, ``size`` and
  ``get_buffer_ptr`` go through wasmjit's own prototypes and the cached
  base address of :mod:`wasmjit.memory` (one FFI call for a small access);
  ``Memory.grow`` refuses while a ``wasmjit.Memory.view`` of the memory is
  held, and otherwise is wasmtime-py's;
* ``Caller.get`` and ``Caller[name]`` look exports up with one FFI call
  and no per-call imports;
* ``wasmtime.component.Func.__call__`` and ``LinkerInstance.add_func`` go
  through component plans of the ``stock`` mode (see
  :mod:`wasmjit.component.dropin`).

Behaviour stays wasmtime-py's: its value conversions (``Val`` arguments,
silent integer wrapping, floats only for floats), its exception types and
messages, several results as a ``list``, a ``Caller`` invalidated after the
call.  Plans of the ``"wasmtime"`` flavour encode these rules; values that
are exactly ``int`` or ``float`` take the fast path, everything else goes
through ``wasmtime.Val`` exactly as wasmtime-py would.  The memory methods
keep wasmtime-py's slicing rules, return types (``bytearray`` from
``read``, ``LP_c_ubyte`` from ``data_ptr``, a ``c_ubyte`` array from
``get_buffer_ptr``) and errors; a store-like object they do not know (or a
closed store, an invalidated caller) goes to wasmtime-py's own method.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple

import wasmtime

from .boundary import ffi, wasmtime_py
from .boundary import memories as _memory
from .boundary.caller import Caller as _JitCaller
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
    Raises ``RuntimeError`` naming what is missing when the installed
    wasmtime-py lacks one of the private names wasmjit relies on (see
    :mod:`wasmjit.boundary.wasmtime_py`); the rest of wasmjit keeps working.
    """
    absent = wasmtime_py.missing()
    if absent:
        import importlib.metadata

        version = importlib.metadata.version("wasmtime")
        raise RuntimeError(
            f"wasmjit.install() cannot patch wasmtime-py {version}: it lacks {', '.join(absent)}. "
            "Function.from_callback, typed() and Memory still work; install() needs a wasmtime-py "
            "this wasmjit release knows (see wasmjit.boundary.wasmtime_py.PRIVATE_NAMES)"
        )
    with _lock:
        if _originals:
            return
        _originals["Func.__init__"] = wasmtime.Func.__init__
        _originals["Func.__call__"] = wasmtime.Func.__call__
        _originals["Linker.define_func"] = wasmtime.Linker.define_func
        wasmtime.Func.__init__ = _func_init  # type: ignore[method-assign,assignment]
        wasmtime.Func.__call__ = _func_call  # type: ignore[method-assign]
        wasmtime.Linker.define_func = _define_func  # type: ignore[method-assign]
        for owner, name, patched in _patches():
            _originals[_key(owner, name)] = owner.__dict__[name]
            setattr(owner, name, patched)


def uninstall() -> None:
    """Undo :func:`install` (idempotent)."""
    with _lock:
        if not _originals:
            return
        wasmtime.Func.__init__ = _originals.pop("Func.__init__")  # type: ignore[method-assign]
        wasmtime.Func.__call__ = _originals.pop("Func.__call__")  # type: ignore[method-assign]
        wasmtime.Linker.define_func = _originals.pop("Linker.define_func")  # type: ignore[method-assign]
        for owner, name, _ in _patches():
            setattr(owner, name, _originals.pop(_key(owner, name)))
        _per_store.clear()
        from .component import dropin as component_dropin

        component_dropin.clear()


def _prepare(
    engine: wasmtime.Engine, ty: wasmtime.FuncType, func: Callable[..., Any], access_caller: bool, for_store: bool
) -> Any:
    from .callbacks import PreparedCallback
    from .model.signature import kinds_of_functype

    params, results = kinds_of_functype(ty)
    if Kind.V128 in params + results:
        # wasmtime-py has no v128 values; its own path keeps its behaviour.
        raise TypeError("v128 is not a wasmtime-py value type")
    return PreparedCallback(engine, func, ty, access_caller, None, None, flavour=Flavour.WASMTIME, for_store=for_store)


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
        prepared = _prepare(store.engine, ty, func, access_caller, for_store=True)
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
        prepared = _prepare(self.engine, ty, func, access_caller, for_store=False)
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


# Memories and callers ---------------------------------------------------------------
#
# Each mirrors wasmtime-py 50's method step by step (same checks in the same
# order, same results and exceptions), with its FFI calls made through
# wasmjit's prototypes and the base address taken from the memory's core
# (valid while the size is unchanged; see wasmjit.boundary.memories).  Whatever is not
# a wasmtime.Store, a wasmtime.Caller or wasmjit's Caller, or is closed,
# goes to wasmtime-py's own method, which raises what it raises.

_open_context = _memory.open_context
_export_of = _memory.export_of
_core_of = _memory.core_of
_MEMORY = ffi.MEMORY
_data_size = ffi.memory_data_size
_data = ffi.memory_data
_c_ubyte = ctypes.c_ubyte
_CORE = _memory.CORE_ATTRIBUTE
_CONTEXT = _memory.CONTEXT_ATTRIBUTE


def _memory_read(self: wasmtime.Memory, store: Any, start: Optional[int] = 0, stop: Optional[int] = None) -> bytearray:
    # The context a caller learned when it looked this memory up, else the general way.
    context = store.__dict__.get(_CONTEXT) if type(store) is _JitCaller and store._address is not None else None
    if context is None:
        context = _open_context(store)
    if context is None:
        result: bytearray = _originals["Memory.read"](self, store, start, stop)
        return result
    core = self.__dict__.get(_CORE) or _core_of(self)
    size: int = _data_size(context, core.address)
    if type(start) is int and type(stop) is int and start >= 0 and 0 <= stop <= size:
        first, last = start, stop  # what slice.indices gives for these, without building a slice
        base, known = core.cache
        if known != size:
            base = core.refresh(context, size)
    else:
        # indices() may run Python code (__index__), which may grow and move the memory:
        # the base is read after it.  The range stays valid: a memory never shrinks.
        first, last, _ = slice(start, stop, None).indices(size)
        base = core.bounds(context)[0]
    if last - first <= 0:
        return bytearray(0)
    return bytearray(_MEMORY[base + first : base + last])


def _memory_write(self: wasmtime.Memory, store: Any, value: Any, start: Optional[int] = None) -> int:
    context = _open_context(store)
    if context is None:
        written: int = _originals["Memory.write"](self, store, value, start)
        return written
    core = self.__dict__.get(_CORE) or _core_of(self)
    size: int = _data_size(context, core.address)
    first = slice(start, None).indices(size)[0]
    if first >= size:
        raise IndexError("index out of range")
    kind = type(value)
    if kind is not bytes and kind is not bytearray:
        if not isinstance(value, bytearray):
            value = bytearray(value)  # bytes are used as they are: the same bytes as their bytearray copy
        length = len(value)
        python_ran = True  # converting, or a subclass's __len__, or start's __index__
    else:
        length = len(value)
        python_ran = start is not None and type(start) is not int
    if length == 0:
        return length
    if first + length > size:
        raise IndexError("index out of range")
    if python_ran:  # it may have moved the memory: read the base now
        base = core.bounds(context)[0]
    else:
        base, known = core.cache
        if known != size:
            base = core.refresh(context, size)
    _MEMORY[base + first : base + first + length] = value
    return length


def _memory_data_ptr(self: wasmtime.Memory, store: Any) -> Any:
    context = _open_context(store)
    if context is None:
        return _originals["Memory.data_ptr"](self, store)
    return ffi.memory_data_pointer(context, _core_of(self).address)


def _memory_data_len(self: wasmtime.Memory, store: Any) -> int:
    context = _open_context(store)
    if context is None:
        length: int = _originals["Memory.data_len"](self, store)
        return length
    size: int = _data_size(context, _core_of(self).address)
    return size


def _memory_size(self: wasmtime.Memory, store: Any) -> int:
    context = _open_context(store)
    if context is None:
        pages: int = _originals["Memory.size"](self, store)
        return pages
    size: int = ffi.memory_size(context, _core_of(self).address)
    return size


def _memory_get_buffer_ptr(self: wasmtime.Memory, store: Any, size: Optional[int] = None, offset: int = 0) -> Any:
    context = _open_context(store)
    if context is None:
        return _originals["Memory.get_buffer_ptr"](self, store, size, offset)
    core = _core_of(self)
    if size is None:
        base, size = core.bounds(context)
    else:
        base = 0
    ptr_type = _c_ubyte * size
    if not base:
        base = _data(context, core.address)
        if not base:  # wasmtime-py raises "NULL pointer access" here
            return _originals["Memory.get_buffer_ptr"](self, store, size, offset)
    return ptr_type.from_address(base + offset)


def _memory_grow(self: wasmtime.Memory, store: Any, delta: int) -> int:
    if _memory.views_held():
        _memory.refuse_if_pinned(_core_of(self).key)
    previous: int = _originals["Memory.grow"](self, store, delta)
    return previous


def _caller_get(self: wasmtime.Caller, name: str) -> Any:
    if type(self) is not wasmtime.Caller:
        return _originals["Caller.get"](self, name)
    data = name.encode("utf-8")
    pointer = self.__dict__.get(wasmtime_py.CALLER_POINTER_ATTRIBUTE)
    if pointer is None:
        return None
    return _export_of(_memory.pointer_address(pointer), data)


def _caller_getitem(self: wasmtime.Caller, name: str) -> Any:
    kind = type(self)
    if kind is _JitCaller:
        data = name.encode("utf-8")  # what wasmjit's Caller.get does first
        address = self.__dict__["_address"]
        found = None if address is None else _export_of(address, data, self.__dict__)
    elif kind is wasmtime.Caller:
        found = _caller_get(self, name)
    else:
        return _originals["Caller.__getitem__"](self, name)
    if found is None:
        raise KeyError("failed to find export {}".format(name))  # noqa: UP032 - wasmtime-py's message
    return found


#: (class, method name, replacement) for every memory and caller method install() replaces.
_MEMORY_PATCHES: Tuple[Tuple[type, str, Callable[..., Any]], ...] = (
    (wasmtime.Memory, "read", _memory_read),
    (wasmtime.Memory, "write", _memory_write),
    (wasmtime.Memory, "data_ptr", _memory_data_ptr),
    (wasmtime.Memory, "data_len", _memory_data_len),
    (wasmtime.Memory, "size", _memory_size),
    (wasmtime.Memory, "get_buffer_ptr", _memory_get_buffer_ptr),
    (wasmtime.Memory, "grow", _memory_grow),
    (wasmtime.Caller, "get", _caller_get),
    (wasmtime.Caller, "__getitem__", _caller_getitem),
)


def _patches() -> Tuple[Tuple[type, str, Callable[..., Any]], ...]:
    """Every method install() replaces besides ``Func`` and ``Linker.define_func``."""
    from .component import dropin as component_dropin

    return _MEMORY_PATCHES + component_dropin.PATCHES


def _key(owner: type, name: str) -> str:
    """The key of a replaced method in ``_originals`` (``component.`` for ``wasmtime.component`` classes)."""
    prefix = "component." if owner.__module__.startswith("wasmtime.component") else ""
    return f"{prefix}{owner.__name__}.{name}"
