"""Hand-written ctypes floors: the fastest binding a human would write for ONE signature.

No wasmjit code is used here.  Every prototype is a fresh foreign-function
object declared on wasmtime-py's shared library (wasmtime-py's own function
objects, and their ``argtypes``/``restype``, are never touched), and every
pointer travels as a plain ``int``.

Callbacks (wasm -> host)
    A ``CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_size_t)`` thunk is
    handed to ``wasmtime_func_new_unchecked``.  It decodes the raw 16-byte
    slots with one precompiled ``struct.Struct(...).unpack_from`` over a view
    of the whole address space, calls the Python function, encodes its
    results with ``pack_into`` over the same slots and returns ``None`` (no
    trap).  A ``try`` (free on the happy path since Python 3.11) turns an
    exception into a trap instead of handing wasmtime garbage.  The thunk,
    its ``FuncType`` and the trampoline live in :data:`_KEEP` until wasmtime
    calls :data:`FINALIZER`.

Typed calls (host -> wasm)
    One reused buffer holds the argument/result slots followed by the trap
    cell; arguments are packed, ``wasmtime_func_call_unchecked`` is called
    directly, results and the trap cell are unpacked in one ``unpack_from``,
    and the error and trap are checked.  The call goes through a prototype
    with no ``argtypes`` and receives pre-built ``c_void_p``/``c_size_t``
    instances: ctypes passes those through as they are, whereas plain ``int``
    arguments to ``c_void_p`` ``argtypes`` cost a ``from_param`` conversion
    per argument per call (measured about 110 ns slower per call).

Every floor binds what it uses as default arguments, so each name is a
``LOAD_FAST`` in the hot path.  Parameters are unpacked into locals and
passed explicitly, except for the sixteen-parameter floor, where passing the
decoded tuple with ``fn(*values)`` measured faster.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
from ctypes import CFUNCTYPE, POINTER, c_bool, c_char_p, c_size_t, c_void_p
from typing import Any, Callable, Dict, Optional, Tuple

import wasmtime
from wasmtime import _ffi
from wasmtime._extern import wrap_extern

__all__ = [
    "MEMORY",
    "FloorCaller",
    "register",
    "callback_i32",
    "callback_mix3",
    "callback_16",
    "callback_caller",
    "callback_gcd",
    "callback_memory_read",
    "memory_base",
    "memory_write",
    "memory_read_into",
    "call_nop",
    "call_add",
    "call_swap4",
    "driver",
    "functype",
    "registration",
]

_DLL: ctypes.CDLL = _ffi.dll


def _declare(name: str, restype: Any, *argtypes: Any) -> Any:
    """A new foreign function for ``name`` with our own types (wasmtime-py's stay untouched)."""
    return CFUNCTYPE(restype, *argtypes)((name, _DLL))


_func_new_unchecked = _declare(
    "wasmtime_func_new_unchecked", None, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p
)
#: ``wasmtime_func_call_unchecked(context, func, args_and_results, n, trap_out)``, to be called
#: with pre-built ``c_void_p``/``c_size_t`` instances (no ``argtypes``: nothing is converted).
_func_call_unchecked = _declare("wasmtime_func_call_unchecked", c_void_p)
_caller_context = _declare("wasmtime_caller_context", c_void_p, c_void_p)
_caller_export_get = _declare("wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p)
_trap_new = _declare("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)
_memory_data = _declare("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
_memory_data_size = _declare("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)

#: ``struct.Struct(...).unpack_from`` and ``pack_into``.
Unpack = Callable[[Any, int], Tuple[Any, ...]]
Pack = Callable[..., None]

#: ``wasm_trap_t *(*)(void *env, wasmtime_caller_t *, wasmtime_val_raw_t *, size_t)``
Thunk = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_size_t)
_Finalizer = CFUNCTYPE(None, c_void_p)

#: A writable byte view of the whole address space: ``unpack_from(fmt, MEMORY, address)``.
MEMORY: memoryview = memoryview((ctypes.c_char * (1 << 62)).from_address(0)).cast("B")

_TRAP_MESSAGE = b"host function raised"


def _trap() -> Optional[int]:
    """A new trap for wasmtime to raise (an exception escaped a floor callback)."""
    value: Optional[int] = _trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE))
    return value


def _address(obj: Any) -> int:
    return int(ctypes.cast(obj, c_void_p).value or 0)


def _context(store: wasmtime.Store) -> int:
    return _address(store._context())


# Keeping callbacks alive --------------------------------------------------------

_KEEP: Dict[int, Tuple[Any, ...]] = {}
_handles = itertools.count(1)


def _release(env: Optional[int]) -> None:
    _KEEP.pop(env or 0, None)


#: Called by wasmtime when it drops a floor function (with its store).
FINALIZER = _Finalizer(_release)
_FINALIZER_ADDRESS = _address(FINALIZER)

_VALTYPES: Dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def functype(params: str, results: str) -> wasmtime.FuncType:
    """``functype("i32 f32", "i64")``: a ``wasmtime.FuncType`` from space-separated kinds."""
    return wasmtime.FuncType([_VALTYPES[k]() for k in params.split()], [_VALTYPES[k]() for k in results.split()])


def register(store: wasmtime.Store, ty: wasmtime.FuncType, trampoline: Callable[..., Any]) -> wasmtime.Func:
    """Hand ``trampoline`` to ``wasmtime_func_new_unchecked``; the result is a ``wasmtime.Func``."""
    thunk = Thunk(trampoline)
    handle = next(_handles)
    _KEEP[handle] = (thunk, ty, trampoline)
    out = _ffi.wasmtime_func_t()
    _func_new_unchecked(
        _context(store), _address(ty.ptr()), _address(thunk), handle, _FINALIZER_ADDRESS, ctypes.addressof(out)
    )
    return wasmtime.Func._from_raw(out)


# Callback floors ----------------------------------------------------------------


def _slots(*codes: str, trap_after: int = 0) -> str:
    """A ``struct`` format with each code at the start of its 16-byte slot: ``_slots("i", "q")``.

    With ``trap_after=n``, the 8-byte trap cell that follows ``n`` slots is read too.
    """
    fmt = "=" + "".join(f"{code}{16 - struct.calcsize('=' + code)}x" for code in codes[:-1]) + codes[-1]
    if trap_after:
        fmt += f"{trap_after * 16 - struct.calcsize(fmt)}xQ"
    return fmt


def callback_i32(store: wasmtime.Store, fn: Callable[[int], None]) -> wasmtime.Func:
    """``(i32) -> ()``"""
    decode = struct.Struct("=i").unpack_from

    def trampoline(
        env: Optional[int],
        caller: Optional[int],
        raw: int,
        nraw: int,
        fn: Callable[[int], None] = fn,
        unpack: Unpack = decode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
    ) -> Optional[int]:
        try:
            (a,) = unpack(memory, raw)
            fn(a)
        except BaseException:
            return trap()
        return None

    return register(store, functype("i32", ""), trampoline)


def callback_mix3(store: wasmtime.Store, fn: Callable[[int, float, int], Tuple[int, int, int]]) -> wasmtime.Func:
    """``(i32, f32, i64) -> (i32, i32, i64)``"""
    decode = struct.Struct(_slots("i", "f", "q")).unpack_from
    encode = struct.Struct(_slots("i", "i", "q")).pack_into

    def trampoline(
        env: Optional[int],
        caller: Optional[int],
        raw: int,
        nraw: int,
        fn: Callable[[int, float, int], Tuple[int, int, int]] = fn,
        unpack: Unpack = decode,
        pack: Pack = encode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
    ) -> Optional[int]:
        try:
            a, b, c = unpack(memory, raw)
            r0, r1, r2 = fn(a, b, c)
            pack(memory, raw, r0, r1, r2)
        except BaseException:
            return trap()
        return None

    return register(store, functype("i32 f32 i64", "i32 i32 i64"), trampoline)


def callback_16(store: wasmtime.Store, fn: Callable[..., int]) -> wasmtime.Func:
    """``(i32, i64, f32, f64) x 4 -> i64``"""
    decode = struct.Struct(_slots(*"iqfd" * 4)).unpack_from
    encode = struct.Struct("=q").pack_into

    def trampoline(
        env: Optional[int],
        caller: Optional[int],
        raw: int,
        nraw: int,
        fn: Callable[..., int] = fn,
        unpack: Unpack = decode,
        pack: Pack = encode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
    ) -> Optional[int]:
        try:
            pack(memory, raw, fn(*unpack(memory, raw)))
        except BaseException:
            return trap()
        return None

    return register(store, functype(" ".join(["i32", "i64", "f32", "f64"] * 4), "i64"), trampoline)


def _two_to_one(
    store: wasmtime.Store, ty: wasmtime.FuncType, fn: Callable[[Any, Any], Any], decode_format: str, encode_format: str
) -> wasmtime.Func:
    """Two parameters, one result: the gcd floor and the registration floor."""
    decode = struct.Struct(decode_format).unpack_from
    encode = struct.Struct(encode_format).pack_into

    def trampoline(
        env: Optional[int],
        caller: Optional[int],
        raw: int,
        nraw: int,
        fn: Callable[[Any, Any], Any] = fn,
        unpack: Unpack = decode,
        pack: Pack = encode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
    ) -> Optional[int]:
        try:
            a, b = unpack(memory, raw)
            pack(memory, raw, fn(a, b))
        except BaseException:
            return trap()
        return None

    return register(store, ty, trampoline)


def callback_gcd(store: wasmtime.Store, fn: Callable[[int, int], int]) -> wasmtime.Func:
    """``(i32, i32) -> i32``"""
    return _two_to_one(store, functype("i32 i32", "i32"), fn, _slots("i", "i"), "=i")


def registration(store: wasmtime.Store, ty: wasmtime.FuncType, fn: Callable[[int, int], float]) -> wasmtime.Func:
    """Register a hand-written ``(i32, i64) -> f64`` thunk (the registration floor; ``ty`` is cached)."""
    return _two_to_one(store, ty, fn, _slots("i", "q"), "=d")


class FloorCaller(wasmtime.Caller):
    """A ``wasmtime.Caller`` built from the raw caller address with no FFI call.

    The context is looked up only when something needs it (``Memory.read``
    does); ``get`` calls ``wasmtime_caller_export_get`` with the address.
    """

    _address: Optional[int]
    _context_pointer: Any

    def __init__(self, address: int) -> None:
        self._address = address
        self._context_pointer = None

    def get(self, name: str) -> Any:
        if self._address is None:
            return None
        data = name.encode()
        item = _ffi.wasmtime_extern_t()
        if _caller_export_get(self._address, data, len(data), ctypes.addressof(item)):
            return wrap_extern(item)
        return None

    def _context(self) -> Any:
        pointer = self._context_pointer
        if pointer is None:
            if self._address is None:
                raise ValueError("caller is no longer valid")
            pointer = self._context_pointer = ctypes.cast(
                _caller_context(self._address), POINTER(_ffi.wasmtime_context_t)
            )
        return pointer

    def _invalidate(self) -> None:
        self._address = None
        self._context_pointer = None


def callback_caller(store: wasmtime.Store, fn: Callable[[wasmtime.Caller, int, int], int]) -> wasmtime.Func:
    """``(Caller, i32, i32) -> i32``: the callable receives a caller, valid during the call."""
    decode = struct.Struct(_slots("i", "i")).unpack_from
    encode = struct.Struct("=i").pack_into

    def trampoline(
        env: Optional[int],
        caller_ptr: int,
        raw: int,
        nraw: int,
        fn: Callable[[wasmtime.Caller, int, int], int] = fn,
        unpack: Unpack = decode,
        pack: Pack = encode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
        Caller: Callable[[int], FloorCaller] = FloorCaller,
    ) -> Optional[int]:
        caller = Caller(caller_ptr)
        try:
            a, b = unpack(memory, raw)
            pack(memory, raw, fn(caller, a, b))
        except BaseException:
            return trap()
        finally:
            caller._invalidate()
        return None

    return register(store, functype("i32 i32", "i32"), trampoline)


def callback_memory_read(store: wasmtime.Store, fn: Callable[[bytes], int]) -> wasmtime.Func:
    """``(i32 ptr, i32 len) -> i32``: reads ``len`` bytes of the calling instance's ``memory`` for ``fn``.

    What a human writes by hand for it: look the export up through the raw
    caller, ask for the memory's base and size, check the range, copy the
    bytes with ``string_at``.
    """
    decode = struct.Struct(_slots("i", "i")).unpack_from
    encode = struct.Struct("=i").pack_into
    name = b"memory"

    def trampoline(
        env: Optional[int],
        caller_ptr: int,
        raw: int,
        nraw: int,
        fn: Callable[[bytes], int] = fn,
        unpack: Unpack = decode,
        pack: Pack = encode,
        memory: memoryview = MEMORY,
        trap: Callable[[], Optional[int]] = _trap,
        export_get: Callable[..., bool] = _caller_export_get,
        context_of: Callable[[int], int] = _caller_context,
        data: Callable[[int, int], int] = _memory_data,
        data_size: Callable[[int, int], int] = _memory_data_size,
        string_at: Callable[[int, int], bytes] = ctypes.string_at,
        Extern: Any = _ffi.wasmtime_extern_t,
        addressof: Callable[[Any], int] = ctypes.addressof,
        name: bytes = name,
    ) -> Optional[int]:
        try:
            ptr, length = unpack(memory, raw)
            item = Extern()
            where = addressof(item)
            if not export_get(caller_ptr, name, 6, where):
                raise KeyError("memory")
            context = context_of(caller_ptr)
            handle = where + 8
            size = data_size(context, handle)
            if ptr < 0 or length < 0 or ptr + length > size:
                raise IndexError(ptr)
            pack(memory, raw, fn(string_at(data(context, handle) + ptr, length)))
        except BaseException:
            return trap()
        return None

    return register(store, functype("i32 i32", "i32"), trampoline)


def memory_base(store: wasmtime.Store, memory: wasmtime.Memory) -> int:
    """The address of a memory's bytes now (valid until it grows)."""
    return int(_memory_data(_context(store), ctypes.addressof(memory._memory)) or 0)


def memory_write(store: wasmtime.Store, memory: wasmtime.Memory) -> Callable[[int, bytes], None]:
    """``write(ptr, data)``: a bare ``ctypes.memmove`` into the memory (no check: the floor)."""
    base = memory_base(store, memory)

    def write(ptr: int, data: bytes, base: int = base, memmove: Any = ctypes.memmove, len: Any = len) -> None:
        memmove(base + ptr, data, len(data))

    return write


def memory_read_into(store: wasmtime.Store, memory: wasmtime.Memory) -> Callable[[int, Any], None]:
    """``read_into(ptr, buffer)``: a bare ``ctypes.memmove`` out of the memory into a ctypes buffer."""
    base = memory_base(store, memory)

    def read_into(
        ptr: int, buffer: Any, base: int = base, memmove: Any = ctypes.memmove, sizeof: Any = ctypes.sizeof
    ) -> None:
        memmove(buffer, base + ptr, sizeof(buffer))

    return read_into


# Typed-call floors --------------------------------------------------------------


class _Buffer:
    """``slots`` raw 16-byte slots followed by the 8-byte trap cell, 16-byte aligned."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, slots: int) -> None:
        size = slots * 16 + 8
        self.raw = ctypes.create_string_buffer(size + 16)
        offset = (-ctypes.addressof(self.raw)) % 16
        self.view = (ctypes.c_char * size).from_buffer(self.raw, offset)
        self.address = ctypes.addressof(self.view)
        self.trap_address = self.address + slots * 16
        self.trap_offset = slots * 16
        self.func = _ffi.wasmtime_func_t.from_buffer_copy(func._func)  # wasmtime_func_t lives here
        self.func_address = ctypes.addressof(self.func)
        self.context = _context(store)
        self.store = store
        # What the call receives, built once.
        self.arguments = (
            c_void_p(self.context),
            c_void_p(self.func_address),
            c_void_p(self.address),
            c_size_t(slots),
            c_void_p(self.trap_address),
        )

    def fail(self, err: Optional[int], trap: int) -> None:
        """Raise what a failed call produced (and clear the trap cell for the next call)."""
        struct.pack_into("=Q", self.view, self.trap_offset, 0)
        if trap:
            raise wasmtime.Trap._from_ptr(ctypes.cast(trap, POINTER(_ffi.wasm_trap_t)))
        assert err is not None
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, POINTER(_ffi.wasmtime_error_t)))


def call_nop(store: wasmtime.Store, func: wasmtime.Func) -> Callable[[], None]:
    """``() -> ()``"""
    b = _Buffer(store, func, 0)
    context_, func_, address_, slots_, trap_address_ = b.arguments
    decode = struct.Struct("=Q").unpack_from

    def nop(
        call: Callable[..., Optional[int]] = _func_call_unchecked,
        context: c_void_p = context_,
        func: c_void_p = func_,
        address: c_void_p = address_,
        slots: c_size_t = slots_,
        trap_address: c_void_p = trap_address_,
        unpack: Callable[[Any], Tuple[Any, ...]] = decode,
        buffer: Any = b.view,
        fail: Callable[[Optional[int], int], None] = b.fail,
    ) -> None:
        err = call(context, func, address, slots, trap_address)
        (trap,) = unpack(buffer)
        if err or trap:
            fail(err, trap)

    nop.keep = b  # type: ignore[attr-defined]
    return nop


def call_add(store: wasmtime.Store, func: wasmtime.Func) -> Callable[[int, int], Any]:
    """``(i32, i32) -> i32``"""
    b = _Buffer(store, func, 2)
    context_, func_, address_, slots_, trap_address_ = b.arguments
    encode = struct.Struct(_slots("i", "i")).pack_into
    decode = struct.Struct(_slots("i", trap_after=2)).unpack_from  # the result, then the trap cell

    def add(
        x: int,
        y: int,
        call: Callable[..., Optional[int]] = _func_call_unchecked,
        context: c_void_p = context_,
        func: c_void_p = func_,
        address: c_void_p = address_,
        slots: c_size_t = slots_,
        trap_address: c_void_p = trap_address_,
        pack: Pack = encode,
        unpack: Callable[[Any], Tuple[Any, ...]] = decode,
        buffer: Any = b.view,
        fail: Callable[[Optional[int], int], None] = b.fail,
    ) -> Any:
        pack(buffer, 0, x, y)
        err = call(context, func, address, slots, trap_address)
        result, trap = unpack(buffer)
        if err or trap:
            fail(err, trap)
        return result

    add.keep = b  # type: ignore[attr-defined]
    return add


def call_swap4(store: wasmtime.Store, func: wasmtime.Func) -> Callable[[int, int, float, float], Tuple[Any, ...]]:
    """``(i32, i64, f32, f64) -> (f64, f32, i64, i32)``"""
    b = _Buffer(store, func, 4)
    context_, func_, address_, slots_, trap_address_ = b.arguments
    encode = struct.Struct(_slots("i", "q", "f", "d")).pack_into
    decode = struct.Struct(_slots("d", "f", "q", "i", trap_after=4)).unpack_from  # results, then the trap cell

    def swap(
        a0: int,
        a1: int,
        a2: float,
        a3: float,
        call: Callable[..., Optional[int]] = _func_call_unchecked,
        context: c_void_p = context_,
        func: c_void_p = func_,
        address: c_void_p = address_,
        slots: c_size_t = slots_,
        trap_address: c_void_p = trap_address_,
        pack: Pack = encode,
        unpack: Callable[[Any], Tuple[Any, ...]] = decode,
        buffer: Any = b.view,
        fail: Callable[[Optional[int], int], None] = b.fail,
    ) -> Tuple[Any, ...]:
        pack(buffer, 0, a0, a1, a2, a3)
        err = call(context, func, address, slots, trap_address)
        r0, r1, r2, r3, trap = unpack(buffer)
        if err or trap:
            fail(err, trap)
        return (r0, r1, r2, r3)

    swap.keep = b  # type: ignore[attr-defined]
    return swap


def driver(store: wasmtime.Store, func: wasmtime.Func, params: str) -> Callable[..., None]:
    """A cheap caller of a benchmark's ``run`` export, whose parameters are all ``i32``.

    Used once per timed batch to start the wasm loop, so its own cost is
    spread over the whole batch; results are ignored.
    """
    nparams = len(params.split())
    nresults = len(func.type(store).results)
    slots = max(nparams, nresults)
    b = _Buffer(store, func, slots)
    pack = struct.Struct("=" + "12x".join("i" * nparams)).pack_into if nparams else None

    def run(*args: int) -> None:
        if pack is not None:
            pack(b.view, 0, *args)
        err = _func_call_unchecked(*b.arguments)
        (trap,) = struct.unpack_from("=Q", b.view, b.trap_offset)
        if err or trap:
            b.fail(err, trap)

    return run
