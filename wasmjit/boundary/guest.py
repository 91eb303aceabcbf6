"""Guest data at run time: what trampolines call to read and write ``(ptr, len)`` values.

A plan names one helper per guest value (``read_guest_<i>``,
``write_guest_<i>``, ``free_guest_<i>``, see :mod:`wasmjit.model.plan`);
:func:`helpers` builds them for a plan, and both the trampolines' statics
and the exact path use them, so there is one implementation of each.

In a callback, guest data lives in the memory of *the instance that
called*: every access looks the export up through the raw caller (one FFI
call), so a host function imported by several instances reads each one's
own memory.  In a typed call it lives in the instance given to ``typed``
(:class:`GuestAccess`, bound into the caller).  Memory accesses go through
the cores of :mod:`.memories`: bounds-checked, and correct after the memory
grew or moved.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import wasmtime

from ..model.kinds import GuestValue, Kind
from ..model.plan import Direction, Plan, guest_freer, guest_reader, guest_writer
from . import ffi, headroom, wasmtime_py
from .memories import OutOfBounds, caller_core

__all__ = ["helpers", "GuestAccess", "GuestError", "encode_guest"]

_MEMORY = ffi.MEMORY


class GuestError(LookupError):
    """Guest data cannot be reached: a missing export, or one of the wrong type."""


def encode_guest(value: GuestValue, data: Any, what: str) -> Any:
    """The bytes ``data`` stands for (``str`` -> UTF-8), or a ``TypeError`` naming ``what``."""
    if value.text:
        if type(data) is not str:
            if not isinstance(data, str):
                raise TypeError(f"{what}: expected a str, got {type(data).__name__}")
            data = str(data)
        return data.encode("utf-8")
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"{what}: expected bytes or a buffer, got {type(data).__name__}") from None
    return view if (view.format == "B" and view.ndim == 1) else view.tobytes()


def _in_bounds(error: Exception, what: str) -> Exception:
    error.args = (f"{what}: {error.args[0] if error.args else error}",)
    return error


# Allocators ---------------------------------------------------------------------------

_MALLOC, _REALLOC = "malloc", "realloc"


def _allocator_shape(params: Tuple[Kind, ...], results: Tuple[Kind, ...], address: Kind, name: str) -> str:
    if results == (address,) and params == (address,):
        return _MALLOC
    if results == (address,) and params == (address,) * 4:
        return _REALLOC
    shown = f"({', '.join(map(str, params))}) -> ({', '.join(map(str, results))})"
    raise GuestError(
        f"export {name!r} is {shown}; an allocator is ({address}) -> {address} like malloc, "
        f"or ({address}, {address}, {address}, {address}) -> {address} like cabi_realloc"
    )


def _free_shape(params: Tuple[Kind, ...], results: Tuple[Kind, ...], address: Kind, name: str) -> int:
    if results == () and params in ((address,), (address,) * 2, (address,) * 3):
        return len(params)
    shown = f"({', '.join(map(str, params))}) -> ({', '.join(map(str, results))})"
    raise GuestError(f"export {name!r} is {shown}; a deallocator takes (ptr), (ptr, len) or (ptr, len, align)")


# Callbacks: the calling instance's exports -------------------------------------------------

#: Allocator shapes of functions already checked, by the function's identity (store id, index).
_checked: Dict[Tuple[int, int], str] = {}
_CHECKED_MAX = 4096
_SLOTS = 4
_FUNC_KEY = struct.Struct("=QQ")  # wasmtime_func_t: its store id and its index in the store
assert _FUNC_KEY.size == ctypes.sizeof(wasmtime_py.FuncStruct), "a function's identity is its whole wasmtime_func_t"
_FUNC_OFFSET = wasmtime_py.ExternStruct.of.offset
_TRAP_OFFSET = _SLOTS * ffi.SLOT_SIZE


class _CallScratch(threading.local):
    """Per thread: a ``wasmtime_extern_t`` for the look-up and a buffer for the allocator's call.

    Per thread because another thread may run between the look-up and the
    call; nothing in them outlives one allocation.
    """

    def __init__(self) -> None:
        self.item = wasmtime_py.ExternStruct()
        self.item_address = ctypes.addressof(self.item)
        self.buffer = (ctypes.c_uint8 * (_TRAP_OFFSET + 8))()
        base = ctypes.addressof(self.buffer)
        # What the call receives, built once: ctypes passes them through unconverted.
        self.func = ctypes.c_void_p(self.item_address + _FUNC_OFFSET)
        self.slots = ctypes.c_void_p(base)
        self.trap = ctypes.c_void_p(base + _TRAP_OFFSET)
        self.contexts: Dict[int, ctypes.c_void_p] = {}


_call_scratch = _CallScratch()


class _CallerAllocator:
    """Calls the calling instance's allocator export through the unchecked ABI.

    Its type is checked once per function (by its identity), so the unchecked
    call can never pass it arguments of the wrong type.
    """

    def __init__(self, name: str, address: Kind) -> None:
        self.name = name
        self.encoded = name.encode("utf-8")
        self.address = address
        self.malloc = struct.Struct("<" + address.exact_format).pack_into
        self.realloc = struct.Struct(
            "<" + f"{address.exact_format}{16 - struct.calcsize(address.exact_format)}x" * 3 + address.exact_format
        ).pack_into
        self.result = struct.Struct(f"<{address.exact_format}").unpack_from
        self.trap = struct.Struct(f"<{_TRAP_OFFSET}xQ").unpack_from

    def __call__(self, caller_ptr: int, context: int, n: int) -> int:
        scratch = _call_scratch
        if not ffi.caller_export_get(caller_ptr, self.encoded, len(self.encoded), scratch.item_address):
            raise GuestError(f"the calling instance has no export named {self.name!r} (the allocator)")
        if _MEMORY[scratch.item_address] != wasmtime_py.EXTERN_FUNC:
            raise GuestError(f"export {self.name!r} of the calling instance is not a function (the allocator)")
        key: Tuple[int, int] = _FUNC_KEY.unpack_from(_MEMORY, scratch.item_address + _FUNC_OFFSET)
        shape = _checked.get(key)
        if shape is None:
            shape = self._check(caller_ptr, key)
        buffer = scratch.buffer
        if shape == _MALLOC:
            self.malloc(buffer, 0, n)
            count = _ONE
        else:
            self.realloc(buffer, 0, 0, 0, 1, n)
            count = _FOUR
        context_arg = scratch.contexts.get(context)
        if context_arg is None:
            if len(scratch.contexts) > 64:
                scratch.contexts.clear()
            context_arg = scratch.contexts[context] = ctypes.c_void_p(context)
        if headroom.STATE.armed:
            headroom.check()  # the allocator is wasm too: room for an unguarded callback it may call
        error = ffi.func_call_unchecked_prebuilt(context_arg, scratch.func, scratch.slots, count, scratch.trap)
        (trap,) = self.trap(buffer)
        if trap:
            struct.pack_into("<Q", buffer, _TRAP_OFFSET, 0)
            raise wasmtime_py.trap_from_address(trap)
        if error:
            raise wasmtime_py.error_from_address(error)
        pointer: int = self.result(buffer)[0]
        return pointer

    def _check(self, caller_ptr: int, key: Tuple[int, int]) -> str:
        from .caller import Caller
        from .valtypes import kinds_of_functype

        handle = wasmtime_py.FuncStruct.from_buffer_copy(_MEMORY, _call_scratch.item_address + _FUNC_OFFSET)
        caller = Caller(caller_ptr)
        try:
            params, results = kinds_of_functype(wasmtime_py.func_from_handle(handle).type(caller))
        finally:
            caller._invalidate()
        shape = _allocator_shape(params, results, self.address, self.name)
        if len(_checked) >= _CHECKED_MAX:
            _checked.clear()
        _checked[key] = shape
        return shape


_ONE, _FOUR = ctypes.c_size_t(1), ctypes.c_size_t(4)


class CallerReader:
    """``read_guest_<i>`` of a callback: the parameter's bytes in the calling instance's memory."""

    __slots__ = ("memory", "text", "what")

    def __init__(self, value: GuestValue, what: str) -> None:
        self.memory = value.guest.memory.encode("utf-8")
        self.text = value.text
        self.what = what

    def __call__(self, caller_ptr: int, ptr: int, n: int) -> Any:
        try:
            core = caller_core(caller_ptr, self.memory)
            context: int = core.context  # type: ignore[assignment]  # set by caller_core
            if self.text:
                return core.read_str(context, ptr, n)
            return core.read(context, ptr, n)
        except (OutOfBounds, KeyError, TypeError) as error:
            raise _in_bounds(error, self.what) from None


class CallerWriter:
    """``write_guest_<i>`` of a callback: copies a result into the calling instance's memory."""

    __slots__ = ("allocate", "memory", "value", "what")

    def __init__(self, value: GuestValue, what: str) -> None:
        assert value.guest.alloc is not None
        self.value = value
        self.memory = value.guest.memory.encode("utf-8")
        self.allocate = _CallerAllocator(value.guest.alloc, value.guest.address)
        self.what = what

    def __call__(self, caller_ptr: int, data: Any) -> Tuple[int, int]:
        payload = encode_guest(self.value, data, self.what)
        n = len(payload) if type(payload) is bytes else payload.nbytes
        try:
            core = caller_core(caller_ptr, self.memory)
        except (KeyError, TypeError) as error:
            raise _in_bounds(error, self.what) from None
        context: int = core.context  # type: ignore[assignment]  # set by caller_core
        ptr = self.allocate(caller_ptr, context, n)
        try:
            # The core checks the size again: the allocator may have grown, and moved, the memory.
            core.write(context, ptr, payload)
        except OutOfBounds as error:
            raise _in_bounds(error, f"{self.what} (the allocator returned {ptr})") from None
        return ptr, n


# Typed calls: an instance's exports ---------------------------------------------------------------


class GuestAccess:
    """An instance's memory and allocator exports, for a typed call's guest data.

    Bound into one typed caller (``guests``); looks each export up once.
    """

    def __init__(self, store: Any, instance: wasmtime.Instance) -> None:
        self.store = store
        self.instance = instance
        self._memories: Dict[str, Any] = {}
        self._functions: Dict[Tuple[str, str], Any] = {}

    def _export(self, name: str, what: str) -> Any:
        found = self.instance.exports(self.store).get(name)
        if found is None:
            raise GuestError(f"the instance has no export named {name!r} ({what})")
        return found

    def memory(self, name: str) -> Any:
        """A :class:`wasmjit.Memory` of the export ``name``."""
        found = self._memories.get(name)
        if found is None:
            export = self._export(name, "the memory")
            if not isinstance(export, wasmtime.Memory):
                raise GuestError(f"export {name!r} of the instance is not a memory")
            from ..memory import Memory

            found = self._memories[name] = Memory(self.store, export)
        return found

    def function(self, name: str, role: str, address: Kind) -> Any:
        """A typed caller of the export ``name`` (an allocator or a deallocator) and its shape."""
        key = (name, role)
        found = self._functions.get(key)
        if found is None:
            from ..calls import typed

            export = self._export(name, f"the {role}")
            if not isinstance(export, wasmtime.Func):
                raise GuestError(f"export {name!r} of the instance is not a function (the {role})")
            caller = typed(self.store, export, name=name)
            params, results = caller.signature.params, caller.signature.results
            if role == "allocator":
                shape: Any = _allocator_shape(params, results, address, name)
            else:
                shape = _free_shape(params, results, address, name)
            found = self._functions[key] = (caller, shape)
        return found


class AccessWriter:
    """``write_guest_<i>`` of a typed call: copies an argument into the instance's memory."""

    __slots__ = ("value", "what")

    def __init__(self, value: GuestValue, what: str) -> None:
        self.value = value
        self.what = what

    def __call__(self, access: GuestAccess, data: Any) -> Tuple[int, int]:
        guest = self.value.guest
        payload = encode_guest(self.value, data, self.what)
        n = len(payload) if type(payload) is bytes else payload.nbytes
        assert guest.alloc is not None
        allocate, shape = access.function(guest.alloc, "allocator", guest.address)
        ptr: int = allocate(n) if shape == _MALLOC else allocate(0, 0, 1, n)
        ptr &= (1 << (8 * struct.calcsize(guest.address.exact_format))) - 1
        try:
            access.memory(guest.memory).write(ptr, payload)
        except IndexError as error:
            raise _in_bounds(error, f"{self.what} (the allocator returned {ptr})") from None
        return ptr, n


class AccessReader:
    """``read_guest_<i>`` of a typed call: a result's bytes in the instance's memory (freed once read)."""

    __slots__ = ("free", "value", "what")

    def __init__(self, value: GuestValue, what: str) -> None:
        self.value = value
        self.what = what
        self.free = AccessFreer(value) if value.guest.free else None

    def __call__(self, access: GuestAccess, ptr: int, n: int) -> Any:
        memory = access.memory(self.value.guest.memory)
        try:
            data = memory.read_str(ptr, n) if self.value.text else memory.read(ptr, n)
        except IndexError as error:
            raise _in_bounds(error, self.what) from None
        if self.free is not None:
            self.free(access, ptr, n)
        return data


class AccessFreer:
    """``free_guest_<i>``: releases guest data through the instance's deallocator."""

    __slots__ = ("value",)

    def __init__(self, value: GuestValue) -> None:
        self.value = value

    def __call__(self, access: GuestAccess, ptr: int, n: int) -> None:
        guest = self.value.guest
        assert guest.free is not None
        free, arity = access.function(guest.free, "deallocator", guest.address)
        free(*(ptr, n, 1)[:arity])


# Per plan ------------------------------------------------------------------------------------------


def helpers(plan: Plan) -> Dict[str, Callable[..., Any]]:
    """The guest helpers ``plan``'s program names, by name."""
    sig = plan.signature
    names: Dict[str, Callable[..., Any]] = {}
    callback = plan.direction is Direction.CALLBACK
    for position, (index, value) in enumerate(sig.param_values):
        if isinstance(value, GuestValue):
            what = f"{'parameter' if callback else 'argument'} {position} ({value})"
            if callback:
                names[guest_reader(index)] = CallerReader(value, what)
            else:
                names[guest_writer(index)] = AccessWriter(value, what)
                if value.guest.free:
                    names[guest_freer(index)] = AccessFreer(value)
    for position, (index, value) in enumerate(sig.result_values):
        if isinstance(value, GuestValue):
            what = f"result {position} ({value})"
            if callback:
                names[guest_writer(index)] = CallerWriter(value, what)
            else:
                names[guest_reader(index)] = AccessReader(value, what)
    return names


def guest_access(store: Any, instance: Optional[wasmtime.Instance], plan: Plan) -> Optional[GuestAccess]:
    """The ``guests`` bound into a typed caller of ``plan`` (``None`` when it has no guest data)."""
    sig = plan.signature
    if not (sig.param_guests or sig.result_guests):
        return None
    if not isinstance(instance, wasmtime.Instance):
        raise TypeError("a typed call with guest data needs instance= (the wasmtime.Instance whose memory it uses)")
    return GuestAccess(store, instance)
