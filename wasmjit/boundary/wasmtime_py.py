"""Every private piece of wasmtime-py that wasmjit touches, in one place.

wasmjit talks to wasmtime through its C API (see :mod:`.ffi`), but it has to
meet wasmtime-py's objects where users hold them: the ``wasmtime_func_t``
inside a ``wasmtime.Func``, the context of a ``wasmtime.Store``, the slab
behind externrefs, the exception wasmtime-py parks for its own callbacks.
None of that is public API, so it is all named here and nowhere else.

This module is the upgrade checklist for a new wasmtime-py release:
:data:`PRIVATE_NAMES` lists every private attribute used, and
:func:`missing` says which of them a given wasmtime-py lacks (a test checks
it is empty; :func:`wasmjit.install` refuses to run when it is not).
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from typing import Any, Callable, List, Optional, Tuple

import wasmtime
from wasmtime import _ffi

__all__ = [
    "PRIVATE_NAMES",
    "missing",
    "LIBRARY",
    "store_context",
    "store_is_closed",
    "STORE_CONTEXT_ATTRIBUTE",
    "func_handle",
    "set_func_handle",
]

#: ``(module, attribute path)`` for every private name used below.
PRIVATE_NAMES: Tuple[Tuple[str, str], ...] = (
    ("wasmtime._ffi", "dll"),
    ("wasmtime._ffi", "wasmtime_val_raw_t"),
    ("wasmtime._ffi", "wasmtime_func_t"),
    ("wasmtime._ffi", "wasmtime_externref_t"),
    ("wasmtime._ffi", "wasmtime_extern_t"),
    ("wasmtime._ffi", "wasmtime_context_t"),
    ("wasmtime._ffi", "wasm_trap_t"),
    ("wasmtime._ffi", "wasmtime_error_t"),
    ("wasmtime._ffi", "wasm_valtype_t"),
    ("wasmtime._ffi", "wasm_functype_t"),
    ("wasmtime._ffi", "wasm_valtype_vec_t"),
    ("wasmtime", "Store._context"),
    ("wasmtime", "Trap._from_ptr"),
    ("wasmtime", "WasmtimeError._from_ptr"),
    ("wasmtime", "ValType._from_ptr"),
    ("wasmtime", "FuncType._from_ptr"),
    ("wasmtime", "Func._from_raw"),
    ("wasmtime", "Val._convert_to_raw"),
    ("wasmtime._func", "LAST_EXCEPTION"),
    ("wasmtime._func", "maybe_raise_last_exn"),
    ("wasmtime._func", "enter_wasm"),
    ("wasmtime._value", "_intern"),
    ("wasmtime._value", "_unintern"),
    ("wasmtime._value", "_externref_finalizer"),
    ("wasmtime._value", "SLAB"),
    ("wasmtime._slab", "Slab.deallocate"),
    ("wasmtime._extern", "wrap_extern"),
    ("wasmtime._exportable", "AsExtern"),
    ("wasmtime._instance", "enter_wasm"),
    ("wasmtime._linker", "enter_wasm"),
    ("wasmtime._ffi", "wasmtime_memory_t"),
    ("wasmtime._ffi", "wasmtime_anyref_t"),
    ("wasmtime._ffi", "WASMTIME_EXTERN_MEMORY"),
    ("wasmtime._ffi", "WASMTIME_EXTERN_FUNC"),
    ("wasmtime", "Memory._from_raw"),
    # wasmjit.component (and install()'s component paths)
    ("wasmtime._bindings", "wasmtime_component_val_t"),
    ("wasmtime._bindings", "wasmtime_component_valrecord_entry_t"),
    ("wasmtime._bindings", "wasmtime_component_func_type_t"),
    ("wasmtime._bindings", "wasm_name_t"),
    ("wasmtime", "StoreContext._invalidate"),
    ("wasmtime.component", "Func._from_raw"),
    ("wasmtime.component", "FuncType._from_ptr"),
    ("wasmtime.component", "LinkerInstance._assert_not_locked"),
    ("wasmtime.component._enter", "LAST_EXCEPTION"),
    ("wasmtime.component._enter", "maybe_raise_last_exn"),
    ("wasmtime.component._enter", "enter_wasm"),
    ("wasmtime.component._linker", "FUNCTIONS"),
    ("wasmtime.component._linker", "func_impl"),
)

#: Attributes wasmtime-py sets on its objects (checked on live objects by the tests).
#: A ``wasmtime.Store`` keeps its ``wasmtime_context_t *`` here, ``None`` once closed.
STORE_CONTEXT_ATTRIBUTE = "_Store__context"
#: A ``wasmtime.Func`` keeps its ``wasmtime_func_t`` here.
FUNC_HANDLE_ATTRIBUTE = "_func"
#: A ``wasmtime.Instance`` keeps its ``wasmtime_instance_t`` (with a ``store_id``) here.
INSTANCE_HANDLE_ATTRIBUTE = "_instance"
#: A ``wasmtime.Memory`` keeps its ``wasmtime_memory_t`` here.
MEMORY_HANDLE_ATTRIBUTE = "_memory"
#: A ``wasmtime.Caller`` keeps its ``wasmtime_caller_t *`` here, ``None`` once its call returned.
CALLER_POINTER_ATTRIBUTE = "_Caller__ptr"
#: A ``wasmtime.Caller`` keeps its ``wasmtime_context_t *`` here, ``None`` once its call returned.
CALLER_CONTEXT_ATTRIBUTE = "_Caller__context"


def _lookup(module: str, path: str) -> Any:
    target: Any = importlib.import_module(module)
    for part in path.split("."):
        target = getattr(target, part)
    return target


def missing() -> List[str]:
    """The private names of :data:`PRIVATE_NAMES` this wasmtime-py lacks."""
    absent = []
    for module, path in PRIVATE_NAMES:
        try:
            _lookup(module, path)
        except (ImportError, AttributeError):
            absent.append(f"{module}.{path}")
    return absent


# The library and its structures -----------------------------------------------

#: The shared library wasmtime-py loaded; wasmjit declares its own prototypes on it.
LIBRARY: ctypes.CDLL = _ffi.dll
ValRawStruct = _ffi.wasmtime_val_raw_t
FuncStruct = _ffi.wasmtime_func_t
ExternRefStruct = _ffi.wasmtime_externref_t
ExternStruct = _ffi.wasmtime_extern_t
ValTypeVec = _ffi.wasm_valtype_vec_t
MemoryStruct = _ffi.wasmtime_memory_t
AnyRefStruct = _ffi.wasmtime_anyref_t
#: ``wasmtime_extern_t.kind`` of a memory.
EXTERN_MEMORY: int = int(_ffi.WASMTIME_EXTERN_MEMORY.value)
EXTERN_FUNC: int = int(_ffi.WASMTIME_EXTERN_FUNC.value)
ContextPointer = ctypes.POINTER(_ffi.wasmtime_context_t)
_TrapPointer = ctypes.POINTER(_ffi.wasm_trap_t)
_ErrorPointer = ctypes.POINTER(_ffi.wasmtime_error_t)
_ValTypePointer = ctypes.POINTER(_ffi.wasm_valtype_t)
_FuncTypePointer = ctypes.POINTER(_ffi.wasm_functype_t)


# Stores and functions ------------------------------------------------------------


def store_context(store: Any) -> int:
    """The address of the ``wasmtime_context_t`` of a store or caller (``ValueError`` when closed)."""
    # Not ``ctypes.cast`` (a Python function: near the recursion limit its
    # argument conversion turns a RecursionError into ``ctypes.ArgumentError``).
    return int(ctypes.c_void_p.from_buffer_copy(store._context()).value or 0)


def store_is_closed(store: wasmtime.Store) -> bool:
    return getattr(store, STORE_CONTEXT_ATTRIBUTE) is None


def func_handle(func: wasmtime.Func) -> Any:
    """The ``wasmtime_func_t`` structure inside a ``wasmtime.Func``."""
    return getattr(func, FUNC_HANDLE_ATTRIBUTE)


def instance_handle(instance: wasmtime.Instance) -> Any:
    """The ``wasmtime_instance_t`` structure inside a ``wasmtime.Instance``."""
    return getattr(instance, INSTANCE_HANDLE_ATTRIBUTE)


def set_func_handle(func: wasmtime.Func, handle: Any) -> None:
    setattr(func, FUNC_HANDLE_ATTRIBUTE, handle)


def func_from_handle(handle: Any) -> wasmtime.Func:
    """A ``wasmtime.Func`` around a ``wasmtime_func_t``."""
    return wasmtime.Func._from_raw(handle)


def memory_handle(memory: wasmtime.Memory) -> Any:
    """The ``wasmtime_memory_t`` structure inside a ``wasmtime.Memory``."""
    return getattr(memory, MEMORY_HANDLE_ATTRIBUTE)


#: ``memory_from_handle(handle)``: a ``wasmtime.Memory`` around a ``wasmtime_memory_t`` (kept, not copied).
memory_from_handle: Callable[[Any], wasmtime.Memory] = wasmtime.Memory._from_raw


# Owned C objects as wasmtime-py objects -------------------------------------------


def trap_from_address(address: int) -> wasmtime.Trap:
    """Take ownership of a ``wasm_trap_t *`` as a ``wasmtime.Trap``."""
    # Not ``ctypes.cast``: a Python function, whose argument conversion turns
    # a RecursionError near the recursion limit into ``ctypes.ArgumentError``.
    pointer = _TrapPointer.from_buffer_copy(address.to_bytes(ctypes.sizeof(_TrapPointer), sys.byteorder))
    return wasmtime.Trap._from_ptr(pointer)


def trap_from_pointer(pointer: Any) -> wasmtime.Trap:
    return wasmtime.Trap._from_ptr(pointer)


def new_trap_out_pointer() -> Any:
    """A NULL ``wasm_trap_t *`` for a call's trap out-parameter."""
    return _TrapPointer()


def error_from_address(address: int) -> wasmtime.WasmtimeError:
    """Take ownership of a ``wasmtime_error_t *`` as a ``wasmtime.WasmtimeError``."""
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(address, _ErrorPointer))


def valtype_pointer(address: int) -> Any:
    return ctypes.cast(address, _ValTypePointer)


def valtype_from_address(address: int) -> wasmtime.ValType:
    """Take ownership of a ``wasm_valtype_t *`` as a ``wasmtime.ValType``."""
    return wasmtime.ValType._from_ptr(valtype_pointer(address), None)


def functype_from_address(address: int) -> wasmtime.FuncType:
    """Take ownership of a ``wasm_functype_t *`` as a ``wasmtime.FuncType``."""
    return wasmtime.FuncType._from_ptr(ctypes.cast(address, _FuncTypePointer), None)


def val_for(store: Any, valtype: wasmtime.ValType, value: Any) -> Any:
    """``value`` converted the way wasmtime-py converts call arguments (a ``wasmtime.Val``)."""
    return wasmtime.Val._convert_to_raw(store, valtype, value)


# Externrefs ----------------------------------------------------------------------

_value_module: Any = importlib.import_module("wasmtime._value")
_slab_module: Any = importlib.import_module("wasmtime._slab")

#: The finalizer wasmtime-py gives its externrefs (a ctypes callback).
EXTERNREF_FINALIZER_ADDRESS: int = int(
    ctypes.cast(_value_module._externref_finalizer, ctypes.c_void_p).value or 0
)


def intern(value: Any) -> int:
    """Put ``value`` in wasmtime-py's externref slab; the handle for ``wasmtime_externref_new``."""
    return int(_value_module._intern(value))


def unintern(data: int) -> Any:
    """The object behind an externref's data pointer."""
    return _value_module._unintern(data)


def forget_interned(handle: int) -> None:
    """Undo :func:`intern` when wasmtime refused to create the externref."""
    _value_module.SLAB.deallocate(handle - 1)


def runs_externref_finalizer(code: Any) -> bool:
    """Whether ``code`` is wasmtime-py's externref finalizer or the slab method it calls."""
    return bool(
        (code.co_name == "_externref_finalizer" and code.co_filename == _value_module.__file__)
        or (code.co_name == "deallocate" and code.co_filename == _slab_module.__file__)
    )


# Exceptions raised by wasmtime-py's own callbacks ------------------------------------

_func_module: Any = importlib.import_module("wasmtime._func")


def take_last_exception(expected: Optional[BaseException] = None) -> Optional[BaseException]:
    """Clear wasmtime-py's parked exception and return it.

    With ``expected``, clear it only if it is that very object (and return it).
    """
    exception: Optional[BaseException] = _func_module.LAST_EXCEPTION
    if exception is None or (expected is not None and exception is not expected):
        return None
    _func_module.LAST_EXCEPTION = None
    return exception


def bridge_calls_into_wasm(maybe_raise_last_exn: Callable[[], None], enter_wasm: Any) -> None:
    """Make wasmtime-py's own calls into wasm re-raise exceptions from wasmjit callbacks.

    Replaces its ``maybe_raise_last_exn`` and, in every module that imported
    it, its ``enter_wasm`` context manager.
    """
    _func_module.maybe_raise_last_exn = maybe_raise_last_exn
    for name in ("wasmtime._func", "wasmtime._instance", "wasmtime._linker", "wasmtime._instance_pre"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "enter_wasm"):
            setattr(module, "enter_wasm", enter_wasm)  # noqa: B010 - a module attribute mypy cannot see


# Externs of a calling instance -----------------------------------------------------

_extern_module = importlib.import_module("wasmtime._extern")
AsExtern = importlib.import_module("wasmtime._exportable").AsExtern


def wrap_extern(item: Any) -> Any:
    """The wasmtime-py object (``Func``, ``Memory``, ...) for a ``wasmtime_extern_t``."""
    return _extern_module.wrap_extern(item)


# Component types across wasmtime-py versions -----------------------------------------


def component_item_type(item: Any) -> Any:
    """The type of one entry of ``ComponentType.exports()``/``imports()``.

    wasmtime-py 50 wraps each entry in a ``ComponentExtern`` (its type in
    ``.ty``); wasmtime-py 45 hands the type itself.
    """
    return getattr(item, "ty", item)
