"""Hand-written ctypes floors for component functions: the fastest binding of ONE WIT signature.

No wasmjit code is used here, and no wasmtime-py conversion: every prototype
is a fresh foreign-function object declared on wasmtime-py's shared library
(wasmtime-py's own function objects are never touched), values are written
and read with ``struct`` at offsets taken from wasmtime-py's ctypes classes
(:data:`VAL`, :data:`OF`, ...), and pointers travel as plain ``int``.

Export calls (host -> wasm)
    One preallocated, zeroed buffer per function holds the argument
    ``wasmtime_component_val_t`` slots, the result slot and whatever the
    arguments point to (record entries, an option's payload, a list's
    elements), with every constant (kinds, field names) written once.  The
    function type is read once, at build, and checked.  A call packs the
    argument values with one precompiled ``pack_into``, makes one
    ``wasmtime_component_func_call`` with pre-built ``c_void_p``/``c_size_t``
    arguments and reads the result with ``unpack_from`` (through
    :data:`MEMORY`, a view of the whole address space, where it points
    elsewhere).  It does not free the result: wasmtime drops what a result
    slot holds when it writes the next call's result there, so what a result
    owns is freed by the next call, and the last one when the floor is
    collected (``wasmtime_component_val_delete``).  Arguments are
    borrowed by wasmtime, so a string argument points straight into the
    ``bytes`` object holding its UTF-8 (:data:`BYTES_DATA` past its address).

Host functions (wasm -> host)
    A ``CFUNCTYPE`` thunk is registered with
    ``wasmtime_component_linker_instance_add_func``.  It ignores the type
    pointer wasmtime passes, reads the arguments from the ``val_t`` array
    with ``unpack_from``, calls the Python function and writes the result
    slot with ``pack_into``; what the result owns (a string, an enum or case
    name, flags, an option's or result's payload) is allocated by wasmtime
    (``wasm_byte_vec_new``, ``wasmtime_component_valflags_new``,
    ``wasmtime_component_val_new``), since wasmtime drops it after the call.
    An exception becomes a ``wasmtime_error_t`` (the call fails; the core
    floors trap the same way).

Every floor binds what it uses as default arguments, so each name is a
``LOAD_FAST`` in the hot path, as in :mod:`perf.floors`.
"""

from __future__ import annotations

import array
import ctypes
import enum
import struct
import weakref
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_size_t, c_void_p
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type

import wasmtime
import wasmtime.component as wc
from wasmtime import _ffi

from ..floors import _FINALIZER_ADDRESS, _KEEP, MEMORY, Pack, Unpack, _address, _declare, _handles

__all__ = [
    "VAL",
    "OF",
    "ENTRY",
    "ENTRY_VAL",
    "NAME",
    "BYTES_DATA",
    "Ok",
    "Err",
    "call_add",
    "call_run",
    "call_nop",
    "call_greet",
    "call_norm",
    "call_option",
    "call_result",
    "call_enum",
    "call_flags",
    "call_variant",
    "call_sum",
    "call_echo",
    "host_add",
    "host_nop",
    "host_greet",
    "host_norm",
    "host_option",
    "host_result",
    "host_enum",
    "host_flags",
    "host_variant",
]

def _offset(cls: Any, field: str) -> int:
    """The offset of ``field`` in the ctypes structure ``cls``."""
    return int(getattr(cls, field).offset)


# Layout, from wasmtime-py's ctypes classes (not from a header of another version).
_Val = _ffi.wasmtime_component_val_t
_Entry = _ffi.wasmtime_component_valrecord_entry_t
_Name = _ffi.wasm_name_t
_Union = _ffi.wasmtime_component_valunion_t
#: ``sizeof(wasmtime_component_val_t)`` and the offset of its union.
VAL: int = ctypes.sizeof(_Val)
OF: int = _offset(_Val, "of")
#: A record field entry (name, then value) and the offset of its value.
ENTRY: int = ctypes.sizeof(_Entry)
ENTRY_VAL: int = _offset(_Entry, "val")
#: ``wasm_name_t`` (``wasm_byte_vec_t``): size, then data.
NAME: int = ctypes.sizeof(_Name)
_SIZE: int = _offset(_Name, "size")
_DATA: int = _offset(_Name, "data")
_LIST_SIZE: int = _offset(_ffi.wasmtime_component_vallist_t, "size")
_LIST_DATA: int = _offset(_ffi.wasmtime_component_vallist_t, "data")
_RECORD_SIZE: int = _offset(_ffi.wasmtime_component_valrecord_t, "size")
_RECORD_DATA: int = _offset(_ffi.wasmtime_component_valrecord_t, "data")
_FLAGS_SIZE: int = _offset(_ffi.wasmtime_component_valflags_t, "size")
_FLAGS_DATA: int = _offset(_ffi.wasmtime_component_valflags_t, "data")
_RESULT_OK: int = _offset(_ffi.wasmtime_component_valresult_t, "is_ok")
_RESULT_VAL: int = _offset(_ffi.wasmtime_component_valresult_t, "val")
_VARIANT_VAL: int = _offset(_ffi.wasmtime_component_valvariant_t, "val")
#: A ``bytes`` object's data starts this many bytes past its address (CPython's ``PyBytesObject``).
BYTES_DATA: int = bytes.__basicsize__ - 1
_PROBE = b"where the bytes are"
assert ctypes.string_at(id(_PROBE) + BYTES_DATA, len(_PROBE)) == _PROBE, "not CPython's bytes layout"

_U32: int = _ffi.WASMTIME_COMPONENT_U32.value
_F64: int = _ffi.WASMTIME_COMPONENT_F64.value
_STRING: int = _ffi.WASMTIME_COMPONENT_STRING.value
_LIST: int = _ffi.WASMTIME_COMPONENT_LIST.value
_RECORD: int = _ffi.WASMTIME_COMPONENT_RECORD.value
_VARIANT: int = _ffi.WASMTIME_COMPONENT_VARIANT.value
_ENUM: int = _ffi.WASMTIME_COMPONENT_ENUM.value
_OPTION: int = _ffi.WASMTIME_COMPONENT_OPTION.value
_RESULT: int = _ffi.WASMTIME_COMPONENT_RESULT.value
_FLAGS: int = _ffi.WASMTIME_COMPONENT_FLAGS.value


#: ``wasmtime_component_func_call(func, context, args, nargs, results, nresults)``, called with pre-built
#: ``c_void_p``/``c_size_t`` instances (no ``argtypes``: nothing is converted per call).
_func_call = _declare("wasmtime_component_func_call", c_void_p)
#: ``wasmtime_component_val_delete(val)``, called with a pre-built ``c_void_p``.
_val_delete = _declare("wasmtime_component_val_delete", None)
#: ``wasmtime_component_val_new(val)``: a heap copy of ``val`` (moved out of it), called with a pre-built ``c_void_p``.
_val_new = _declare("wasmtime_component_val_new", c_void_p)
_byte_vec_new = _declare("wasm_byte_vec_new", None, c_void_p, c_size_t, c_char_p)
_valflags_copy = _declare("wasmtime_component_valflags_copy", None, c_void_p, c_void_p)
_error_new = _declare("wasmtime_error_new", c_void_p, c_char_p)
_add_func = _declare(
    "wasmtime_component_linker_instance_add_func", c_void_p, c_void_p, c_char_p, c_size_t, c_void_p, c_void_p, c_void_p
)

#: ``wasmtime_error_t *(*)(void *env, wasmtime_context_t *, const wasmtime_component_func_type_t *,
#: wasmtime_component_val_t *args, size_t, wasmtime_component_val_t *results, size_t)``
HostThunk = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)


def _fail(err: int) -> None:
    raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, POINTER(_ffi.wasmtime_error_t)))


def layout(*fields: Tuple[int, str], origin: Optional[int] = None) -> Tuple[int, struct.Struct]:
    """``(start, Struct)`` writing/reading ``fields`` (``(offset, code)``, in order) from ``start``.

    ``start`` is ``origin`` when given (then offsets are relative to the address the struct is used
    at), else the first field's offset.  The bytes between two fields are padding: ``pack_into``
    writes zeros there, so every constant inside the span must be a field too.
    """
    start = fields[0][0] if origin is None else origin
    fmt, at = "=", start
    for offset, code in fields:
        if offset < at:
            raise ValueError(f"field at {offset} overlaps the one before it")
        fmt += f"{offset - at}x{code}" if offset > at else code
        at = offset + struct.calcsize("=" + code)
    return start, struct.Struct(fmt)


class Ok:
    """The floors' ``result`` ok value (wasmjit has its own ``wasmjit.component.Ok``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Err(Ok):
    """The floors' ``result`` error value."""

    __slots__ = ()


# Static names: bytes kept alive for the process, pointed at by prebuilt structs ---------------------------

_NAMES: Dict[str, bytes] = {}


def _name(text: str) -> Tuple[int, int]:
    """``(size, address)`` of a UTF-8 name that lives as long as the process."""
    data = _NAMES.setdefault(text, text.encode())
    return len(data), id(data) + BYTES_DATA


def _names_array(names: Sequence[str]) -> Tuple[int, Any]:
    """A C array of ``wasm_name_t`` pointing at static names: ``(count, array)``."""
    out = (_Name * max(1, len(names)))()
    for i, text in enumerate(names):
        size, address = _name(text)
        struct.pack_into("=Q", out, i * NAME + _SIZE, size)
        struct.pack_into("=Q", out, i * NAME + _DATA, address)
    return len(names), out


# Export calls ----------------------------------------------------------------------------


class _Call:
    """The buffer and pre-built arguments of one export's floor.

    Layout: ``nargs`` argument slots at 0, the result slot after them, then ``extra`` bytes for
    what the arguments point to.  All zero at first (a zero slot is ``bool false``).
    """

    def __init__(self, store: wasmtime.Store, func: wc.Func, nargs: int, has_result: bool, extra: int = 0) -> None:
        self.result = nargs * VAL
        self.extra = self.result + VAL
        size = self.extra + extra
        self.raw = (ctypes.c_uint64 * ((size + 7) // 8))()  # 8-byte aligned, zeroed
        self.view = memoryview(self.raw).cast("B")
        self.address = ctypes.addressof(self.raw)
        self.func = _ffi.wasmtime_component_func_t.from_buffer_copy(func._func)
        self.store = store
        context = _address(store._context())
        self.arguments = (
            c_void_p(ctypes.addressof(self.func)),
            c_void_p(context),
            c_void_p(self.address),
            c_size_t(nargs),
            c_void_p(self.address + self.result),
            c_size_t(1 if has_result else 0),
        )
        self.result_pointer = c_void_p(self.address + self.result)
        # The last call's result tree (each call's is dropped by the next call): freed with the floor.
        weakref.finalize(self, _val_delete, c_void_p(self.address + self.result), self.raw)


def _expect(store: wasmtime.Store, func: wc.Func, params: Sequence[type], result: Optional[type]) -> wc.FuncType:
    """Read the function type once and check it is the one this floor was written for."""
    ty = func.type(store)
    got = [type(t) for _, t in ty.params]
    assert got == list(params), f"floor written for {params}, the function takes {got}"
    r = ty.result
    assert (r is None and result is None) or type(r) is result, f"floor written for {result}, it returns {r}"
    return ty


def call_add(store: wasmtime.Store, func: wc.Func) -> Callable[[int, int], int]:
    """``add(a: u32, b: u32) -> u32``"""
    _expect(store, func, (wc.U32, wc.U32), wc.U32)
    c = _Call(store, func, 2, True)
    _, encode = layout((0, "B"), (OF, "I"), (VAL, "B"), (VAL + OF, "I"))
    _, decode = layout((c.result + OF, "I"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def add(
        a: int,
        b: int,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack: Pack = encode.pack_into,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        at: int = c.result + OF,
        U32: int = _U32,
        fail: Callable[[int], None] = _fail,
    ) -> int:
        pack(buffer, 0, U32, a, U32, b)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        return unpack(buffer, at)[0]  # type: ignore[no-any-return]

    add.keep = c  # type: ignore[attr-defined]
    return add


def call_run(store: wasmtime.Store, func: wc.Func) -> Callable[[int], int]:
    """``run(n: u32) -> u32``: the driver of the host-import workloads (every variant's alike)."""
    _expect(store, func, (wc.U32,), wc.U32)
    c = _Call(store, func, 1, True)
    _, encode = layout((0, "B"), (OF, "I"))
    _, decode = layout((c.result + OF, "I"))

    def run(n: int) -> int:
        encode.pack_into(c.view, 0, _U32, n)
        err = _func_call(*c.arguments)
        if err:
            _fail(err)
        return decode.unpack_from(c.view, c.result + OF)[0]  # type: ignore[no-any-return]

    run.keep = c  # type: ignore[attr-defined]
    return run


def call_nop(store: wasmtime.Store, func: wc.Func) -> Callable[[], None]:
    """``nop()``"""
    _expect(store, func, (), None)
    c = _Call(store, func, 0, False)
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def nop(
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        fail: Callable[[int], None] = _fail,
    ) -> None:
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)

    nop.keep = c  # type: ignore[attr-defined]
    return nop


def call_greet(store: wasmtime.Store, func: wc.Func) -> Callable[[str], str]:
    """``greet(name: string) -> string``: the argument points into the encoded ``bytes``."""
    _expect(store, func, (wc.String,), wc.String)
    c = _Call(store, func, 1, True)
    # The argument string (the result slot keeps the last result until this call's replaces it).
    _, encode = layout((0, "B"), (OF + _SIZE, "Q"), (OF + _DATA, "Q"))
    at, decode = layout((c.result + OF + _SIZE, "Q"), (c.result + OF + _DATA, "Q"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def greet(
        name: str,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack: Pack = encode.pack_into,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        at: int = at,
        memory: memoryview = MEMORY,
        STRING: int = _STRING,
        DATA: int = BYTES_DATA,
        fail: Callable[[int], None] = _fail,
    ) -> str:
        data = name.encode()
        pack(buffer, 0, STRING, len(data), id(data) + DATA)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        size, ptr = unpack(buffer, at)
        text = str(memory[ptr : ptr + size], "utf-8")
        return text

    greet.keep = c  # type: ignore[attr-defined]
    return greet


def call_norm(store: wasmtime.Store, func: wc.Func) -> Callable[[Any], float]:
    """``norm(p: point{x: f64, y: f64}) -> f64`` (``p``: any object with ``x`` and ``y``, e.g. a dataclass):
    the record's two entries live after the result slot."""
    _expect(store, func, (wc.RecordType,), wc.F64)
    c = _Call(store, func, 1, True, 2 * ENTRY)
    entries = c.extra
    x_size, x_data = _name("x")
    y_size, y_data = _name("y")
    # Constants once: the record (kind, size, data), both names, the first entry's kind.
    first, constants = layout((0, "B"), (OF + _RECORD_SIZE, "Q"), (OF + _RECORD_DATA, "Q"))
    constants.pack_into(c.view, first, _RECORD, 2, c.address + entries)
    _, name_x = layout((_SIZE, "Q"), (_DATA, "Q"), (ENTRY_VAL, "B"), origin=0)
    name_x.pack_into(c.view, entries, x_size, x_data, _F64)
    # Per call: x, then everything up to y (the second entry's name and kind are constants inside the span).
    second = entries + ENTRY
    start, encode = layout(
        (entries + ENTRY_VAL + OF, "d"),
        (second + _SIZE, "Q"),
        (second + _DATA, "Q"),
        (second + ENTRY_VAL, "B"),
        (second + ENTRY_VAL + OF, "d"),
    )
    at, decode = layout((c.result + OF, "d"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def norm(
        p: Any,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack: Pack = encode.pack_into,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        start: int = start,
        at: int = at,
        y_size: int = y_size,
        y_data: int = y_data,
        F64: int = _F64,
        fail: Callable[[int], None] = _fail,
    ) -> float:
        pack(buffer, start, p.x, y_size, y_data, F64, p.y)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        return unpack(buffer, at)[0]  # type: ignore[no-any-return]

    norm.keep = c  # type: ignore[attr-defined]
    return norm


def call_option(store: wasmtime.Store, func: wc.Func) -> Callable[[Optional[int]], Optional[int]]:
    """``bump-option(x: option<u32>) -> option<u32>``: the payload slot lives after the result slot."""
    _expect(store, func, (wc.OptionType,), wc.OptionType)
    c = _Call(store, func, 1, True, VAL)
    payload = c.extra
    _, encode_none = layout((0, "B"), (OF, "Q"))
    _, encode_some = layout((0, "B"), (OF, "Q"), (payload, "B"), (payload + OF, "I"))
    at, decode = layout((c.result + OF, "Q"))
    _, decode_payload = layout((OF, "I"), origin=0)
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def bump_option(
        x: Optional[int],
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack_none: Pack = encode_none.pack_into,
        pack_some: Pack = encode_some.pack_into,
        unpack: Unpack = decode.unpack_from,
        unpack_payload: Unpack = decode_payload.unpack_from,
        buffer: memoryview = c.view,
        payload: int = c.address + payload,
        at: int = at,
        memory: memoryview = MEMORY,
        OPTION: int = _OPTION,
        U32: int = _U32,
        fail: Callable[[int], None] = _fail,
    ) -> Optional[int]:
        if x is None:
            pack_none(buffer, 0, OPTION, 0)
        else:
            pack_some(buffer, 0, OPTION, payload, U32, x)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        (ptr,) = unpack(buffer, at)
        if not ptr:
            return None
        (value,) = unpack_payload(memory, ptr)
        return value  # type: ignore[no-any-return]

    bump_option.keep = c  # type: ignore[attr-defined]
    return bump_option


def call_result(store: wasmtime.Store, func: wc.Func) -> Callable[[Ok], Ok]:
    """``bump-result(x: result<u32, string>) -> result<u32, string>`` with :class:`Ok`/:class:`Err` values."""
    _expect(store, func, (wc.ResultType,), wc.ResultType)
    c = _Call(store, func, 1, True, VAL)
    payload = c.extra
    head = ((0, "B"), (OF + _RESULT_OK, "?"), (OF + _RESULT_VAL, "Q"), (payload, "B"))
    _, encode_ok = layout(*head, (payload + OF, "I"))
    _, encode_err = layout(*head, (payload + OF + _SIZE, "Q"), (payload + OF + _DATA, "Q"))
    at, decode = layout((c.result + OF + _RESULT_OK, "?"), (c.result + OF + _RESULT_VAL, "Q"))
    _, decode_ok = layout((OF, "I"), origin=0)
    _, decode_err = layout((OF + _SIZE, "Q"), (OF + _DATA, "Q"), origin=0)
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def bump_result(
        x: Ok,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack_ok: Pack = encode_ok.pack_into,
        pack_err: Pack = encode_err.pack_into,
        unpack: Unpack = decode.unpack_from,
        unpack_ok: Unpack = decode_ok.unpack_from,
        unpack_err: Unpack = decode_err.unpack_from,
        buffer: memoryview = c.view,
        payload: int = c.address + payload,
        at: int = at,
        memory: memoryview = MEMORY,
        RESULT: int = _RESULT,
        U32: int = _U32,
        STRING: int = _STRING,
        DATA: int = BYTES_DATA,
        make_ok: Type[Ok] = Ok,
        make_err: Type[Err] = Err,
        fail: Callable[[int], None] = _fail,
    ) -> Ok:
        if type(x) is make_ok:
            pack_ok(buffer, 0, RESULT, True, payload, U32, x.value)
        else:
            data = x.value.encode()
            pack_err(buffer, 0, RESULT, False, payload, STRING, len(data), id(data) + DATA)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        is_ok, ptr = unpack(buffer, at)
        if is_ok:
            out: Ok = make_ok(unpack_ok(memory, ptr)[0])
        else:
            size, data_ptr = unpack_err(memory, ptr)
            out = make_err(str(memory[data_ptr : data_ptr + size], "utf-8"))
        return out

    bump_result.keep = c  # type: ignore[attr-defined]
    return bump_result


def _case_names(cases: Sequence[str], values: Mapping[str, Any]) -> Tuple[Dict[Any, Tuple[int, int]], Dict[bytes, Any]]:
    """Python value -> ``(size, address)`` of its static name, and name bytes -> Python value."""
    out = {values[name]: _name(name) for name in cases}
    back = {name.encode(): values[name] for name in cases}
    return out, back


def call_enum(store: wasmtime.Store, func: wc.Func, cls: Type[enum.Enum]) -> Callable[[Any], Any]:
    """``next-color(c: color) -> color`` with an ``enum.Enum`` whose member names are the cases."""
    ty = _expect(store, func, (wc.EnumType,), wc.EnumType)
    cases = ty.params[0][1].names  # type: ignore[attr-defined]
    to_name, from_name = _case_names(cases, {name: cls[name] for name in cases})
    c = _Call(store, func, 1, True)
    _, encode = layout((0, "B"), (OF + _SIZE, "Q"), (OF + _DATA, "Q"))
    at, decode = layout((c.result + OF + _SIZE, "Q"), (c.result + OF + _DATA, "Q"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def next_color(
        value: Any,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack: Pack = encode.pack_into,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        at: int = at,
        memory: memoryview = MEMORY,
        to_name: Dict[Any, Tuple[int, int]] = to_name,
        from_name: Dict[bytes, Any] = from_name,
        ENUM: int = _ENUM,
        fail: Callable[[int], None] = _fail,
    ) -> Any:
        size, data = to_name[value]
        pack(buffer, 0, ENUM, size, data)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        size, ptr = unpack(buffer, at)
        out = from_name[bytes(memory[ptr : ptr + size])]
        return out

    next_color.keep = c  # type: ignore[attr-defined]
    return next_color


def _flag_arrays(cls: Type[enum.Flag], names: Sequence[str]) -> Tuple[Dict[int, Tuple[int, int]], List[Any]]:
    """For every combination of flags: its bits -> ``(count, address of its wasm_name_t array)``."""
    bits = [int(cls[name].value) for name in names]
    arrays: Dict[int, Tuple[int, int]] = {}
    keep: List[Any] = []
    for mask in range(1 << len(names)):
        chosen = [name for i, name in enumerate(names) if mask >> i & 1]
        count, arr = _names_array(chosen)
        keep.append(arr)
        arrays[sum(b for i, b in enumerate(bits) if mask >> i & 1)] = (count, ctypes.addressof(arr))
    return arrays, keep


def call_flags(store: wasmtime.Store, func: wc.Func, cls: Type[enum.Flag]) -> Callable[[Any], Any]:
    """``invert(p: perms) -> perms`` with an ``enum.Flag`` whose member names are the flags."""
    ty = _expect(store, func, (wc.FlagsType,), wc.FlagsType)
    names = ty.params[0][1].names  # type: ignore[attr-defined]
    arrays, keep = _flag_arrays(cls, names)
    bit_of = {name.encode(): int(cls[name].value) for name in names}
    members = {value: cls(value) for value in arrays}
    c = _Call(store, func, 1, True)
    _, encode = layout((0, "B"), (OF + _FLAGS_SIZE, "Q"), (OF + _FLAGS_DATA, "Q"))
    at, decode = layout((c.result + OF + _FLAGS_SIZE, "Q"), (c.result + OF + _FLAGS_DATA, "Q"))
    _, decode_name = layout((_SIZE, "Q"), (_DATA, "Q"), origin=0)
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def invert(
        value: Any,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack: Pack = encode.pack_into,
        unpack: Unpack = decode.unpack_from,
        unpack_name: Unpack = decode_name.unpack_from,
        buffer: memoryview = c.view,
        at: int = at,
        memory: memoryview = MEMORY,
        arrays: Dict[int, Tuple[int, int]] = arrays,
        bit_of: Dict[bytes, int] = bit_of,
        members: Dict[int, Any] = members,
        FLAGS: int = _FLAGS,
        NAME: int = NAME,
        fail: Callable[[int], None] = _fail,
    ) -> Any:
        count, names = arrays[value.value]
        pack(buffer, 0, FLAGS, count, names)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        count, ptr = unpack(buffer, at)
        bits = 0
        for i in range(count):
            size, data = unpack_name(memory, ptr + i * NAME)
            bits |= bit_of[bytes(memory[data : data + size])]
        return members[bits]

    invert.keep = (c, keep)  # type: ignore[attr-defined]
    return invert


def call_variant(store: wasmtime.Store, func: wc.Func, cases: Mapping[str, type]) -> Callable[[Any], Any]:
    """``grow(s: shape) -> shape`` with one class per case (``cases``: WIT case -> class; payloads, f64, in
    ``.value``)."""
    ty = _expect(store, func, (wc.VariantType,), wc.VariantType)
    assert [name for name, _ in ty.params[0][1].cases] == list(cases)  # type: ignore[attr-defined]
    to_name = {cls: _name(case) for case, cls in cases.items()}
    from_name = {case.encode(): cls for case, cls in cases.items()}
    c = _Call(store, func, 1, True, VAL)
    payload = c.extra
    head = ((0, "B"), (OF + _SIZE, "Q"), (OF + _DATA, "Q"), (OF + _VARIANT_VAL, "Q"))
    _, encode_empty = layout(*head)
    _, encode_some = layout(*head, (payload, "B"), (payload + OF, "d"))
    at, decode = layout((c.result + OF + _SIZE, "Q"), (c.result + OF + _DATA, "Q"), (c.result + OF + _VARIANT_VAL, "Q"))
    _, decode_payload = layout((OF, "d"), origin=0)
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def grow(
        value: Any,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        pack_empty: Pack = encode_empty.pack_into,
        pack_some: Pack = encode_some.pack_into,
        unpack: Unpack = decode.unpack_from,
        unpack_payload: Unpack = decode_payload.unpack_from,
        buffer: memoryview = c.view,
        payload: int = c.address + payload,
        at: int = at,
        memory: memoryview = MEMORY,
        to_name: Dict[type, Tuple[int, int]] = to_name,
        from_name: Dict[bytes, type] = from_name,
        VARIANT: int = _VARIANT,
        F64: int = _F64,
        fail: Callable[[int], None] = _fail,
    ) -> Any:
        size, data = to_name[type(value)]
        try:
            x = value.value
        except AttributeError:
            pack_empty(buffer, 0, VARIANT, size, data, 0)
        else:
            pack_some(buffer, 0, VARIANT, size, data, payload, F64, x)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        size, ptr, val = unpack(buffer, at)
        cls = from_name[bytes(memory[ptr : ptr + size])]
        out = cls(unpack_payload(memory, val)[0]) if val else cls()
        return out

    grow.keep = c  # type: ignore[attr-defined]
    return grow


class _ListCall:
    """A list argument's element slots (kinds written once), grown when a longer list comes."""

    def __init__(self, call: _Call) -> None:
        self.call = call
        self.capacity = 0
        self.grow(1024)

    def grow(self, n: int) -> None:
        self.capacity = max(n, 2 * self.capacity)
        self.raw = (ctypes.c_uint64 * (self.capacity * VAL // 8))()
        self.address = ctypes.addressof(self.raw)
        view = memoryview(self.raw).cast("B")
        view[::VAL] = bytes([_U32]) * self.capacity  # every element's kind
        self.words = view.cast("I")  # u32 words; an element's value is word OF // 4 of its slot


def _list_call(
    store: wasmtime.Store, func: wc.Func, result: type
) -> Tuple[_Call, _ListCall, Callable[[List[int]], None]]:
    """The argument writer shared by ``sum`` and ``echo``: ``put(xs)`` fills the elements and the argument."""
    _expect(store, func, (wc.ListType,), result)
    c = _Call(store, func, 1, True)
    items = _ListCall(c)
    _, encode = layout((0, "B"), (OF + _LIST_SIZE, "Q"), (OF + _LIST_DATA, "Q"))
    first, step = OF // 4, VAL // 4

    def put(
        xs: List[int],
        items: _ListCall = items,
        pack: Pack = encode.pack_into,
        buffer: memoryview = c.view,
        u32s: Callable[[str, List[int]], Any] = array.array,
        LIST: int = _LIST,
        first: int = first,
        step: int = step,
    ) -> None:
        n = len(xs)
        if n > items.capacity:
            items.grow(n)
        items.words[first : first + n * step : step] = u32s("I", xs)
        pack(buffer, 0, LIST, n, items.address)

    return c, items, put


def call_sum(store: wasmtime.Store, func: wc.Func) -> Callable[[List[int]], int]:
    """``sum(xs: list<u32>) -> u32``: the values written into the element slots with one strided copy."""
    c, items, put = _list_call(store, func, wc.U32)
    at, decode = layout((c.result + OF, "I"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def sum_(
        xs: List[int],
        put: Callable[[List[int]], None] = put,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        at: int = at,
        fail: Callable[[int], None] = _fail,
    ) -> int:
        put(xs)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        return unpack(buffer, at)[0]  # type: ignore[no-any-return]

    sum_.keep = (c, items)  # type: ignore[attr-defined]
    return sum_


def call_echo(store: wasmtime.Store, func: wc.Func) -> Callable[[List[int]], List[int]]:
    """``echo(xs: list<u32>) -> list<u32>``: the result's values read with one strided ``tolist``."""
    c, items, put = _list_call(store, func, wc.ListType)
    at, decode = layout((c.result + OF + _LIST_SIZE, "Q"), (c.result + OF + _LIST_DATA, "Q"))
    f_, ctx_, args_, nargs_, res_, nres_ = c.arguments

    def echo(
        xs: List[int],
        put: Callable[[List[int]], None] = put,
        call: Callable[..., Optional[int]] = _func_call,
        f: c_void_p = f_,
        ctx: c_void_p = ctx_,
        args: c_void_p = args_,
        nargs: c_size_t = nargs_,
        res: c_void_p = res_,
        nres: c_size_t = nres_,
        unpack: Unpack = decode.unpack_from,
        buffer: memoryview = c.view,
        at: int = at,
        memory: memoryview = MEMORY,
        first: int = OF // 4,
        step: int = VAL // 4,
        VAL: int = VAL,
        fail: Callable[[int], None] = _fail,
    ) -> List[int]:
        put(xs)
        err = call(f, ctx, args, nargs, res, nres)
        if err:
            fail(err)
        n, ptr = unpack(buffer, at)
        out: List[int] = memory[ptr : ptr + n * VAL].cast("I")[first::step].tolist()
        return out

    echo.keep = (c, items)  # type: ignore[attr-defined]
    return echo


# Host functions ---------------------------------------------------------------------------

# The keep-alive registry and its finalizer are the core floors' (wasmtime calls it when it drops
# a floor host function with its linker).
_ERROR_MESSAGE = b"host function raised"


def _error() -> Optional[int]:
    """A new ``wasmtime_error_t`` for wasmtime to fail the call with (an exception escaped a thunk)."""
    value: Optional[int] = _error_new(_ERROR_MESSAGE)
    return value


def register(root: wc.LinkerInstance, name: str, trampoline: Callable[..., Optional[int]]) -> None:
    """Hand ``trampoline`` to ``wasmtime_component_linker_instance_add_func`` as ``name``."""
    thunk = HostThunk(trampoline)
    handle = next(_handles)
    _KEEP[handle] = (thunk, trampoline)
    data = name.encode()
    err = _add_func(_address(root.ptr()), data, len(data), _address(thunk), handle, _FINALIZER_ADDRESS)
    if err:
        _KEEP.pop(handle, None)
        _fail(err)


def host_add(root: wc.LinkerInstance, name: str, fn: Callable[[int, int], int]) -> None:
    """``add(a: u32, b: u32) -> u32``"""
    _, decode = layout((OF, "I"), (VAL + OF, "I"))
    _, encode = layout((0, "B"), (OF, "I"))

    def add(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[int, int], int] = fn,
        unpack: Unpack = decode.unpack_from,
        pack: Pack = encode.pack_into,
        memory: memoryview = MEMORY,
        start: int = OF,
        U32: int = _U32,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            a, b = unpack(memory, args + start)
            pack(memory, results, U32, fn(a, b))
        except BaseException:
            return error()
        return None

    register(root, name, add)


def host_nop(root: wc.LinkerInstance, name: str, fn: Callable[[], None]) -> None:
    """``nop()``"""

    def nop(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[], None] = fn,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            fn()
        except BaseException:
            return error()
        return None

    register(root, name, nop)


def host_greet(root: wc.LinkerInstance, name: str, fn: Callable[[str], str]) -> None:
    """``greet(name: string) -> string``: the result's bytes copied by ``wasm_byte_vec_new``."""
    start, decode = layout((OF + _SIZE, "Q"), (OF + _DATA, "Q"))
    kind = struct.Struct("=B")

    def greet(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[str], str] = fn,
        unpack: Unpack = decode.unpack_from,
        pack_kind: Pack = kind.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        vec_new: Callable[[int, int, bytes], None] = _byte_vec_new,
        STRING: int = _STRING,
        OF: int = OF,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            size, data = unpack(memory, args + start)
            out = fn(str(memory[data : data + size], "utf-8")).encode()
            vec_new(results + OF, len(out), out)
            pack_kind(memory, results, STRING)
        except BaseException:
            return error()
        return None

    register(root, name, greet)


def host_norm(root: wc.LinkerInstance, name: str, fn: Callable[[Any], float], point: Type[Any]) -> None:
    """``norm(p: point{x: f64, y: f64}) -> f64``: the record's entries read where wasmtime put them."""
    start, decode_record = layout((OF + _RECORD_DATA, "Q"))
    fields, decode_fields = layout((ENTRY_VAL + OF, "d"), (ENTRY + ENTRY_VAL + OF, "d"))
    _, encode = layout((0, "B"), (OF, "d"))

    def norm(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Any], float] = fn,
        Point: Type[Any] = point,
        unpack_record: Unpack = decode_record.unpack_from,
        unpack_fields: Unpack = decode_fields.unpack_from,
        pack: Pack = encode.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        fields: int = fields,
        F64: int = _F64,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            (entries,) = unpack_record(memory, args + start)
            x, y = unpack_fields(memory, entries + fields)
            pack(memory, results, F64, fn(Point(x, y)))
        except BaseException:
            return error()
        return None

    register(root, name, norm)


def host_option(root: wc.LinkerInstance, name: str, fn: Callable[[Optional[int]], Optional[int]]) -> None:
    """``bump-option(x: option<u32>) -> option<u32>``: a ``some`` result boxed by ``wasmtime_component_val_new``."""
    start, decode = layout((OF, "Q"))
    _, decode_payload = layout((OF, "I"), origin=0)
    _, encode = layout((0, "B"), (OF, "Q"))
    scratch = (ctypes.c_uint64 * (VAL // 8))()
    scratch_pointer = c_void_p(ctypes.addressof(scratch))
    _, encode_payload = layout((0, "B"), (OF, "I"))

    def bump_option(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Optional[int]], Optional[int]] = fn,
        unpack: Unpack = decode.unpack_from,
        unpack_payload: Unpack = decode_payload.unpack_from,
        pack: Pack = encode.pack_into,
        pack_payload: Pack = encode_payload.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        scratch: Any = scratch,
        scratch_pointer: c_void_p = scratch_pointer,
        box: Callable[[c_void_p], int] = _val_new,
        OPTION: int = _OPTION,
        U32: int = _U32,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            (ptr,) = unpack(memory, args + start)
            out = fn(unpack_payload(memory, ptr)[0] if ptr else None)
            if out is None:
                pack(memory, results, OPTION, 0)
            else:
                pack_payload(scratch, 0, U32, out)
                pack(memory, results, OPTION, box(scratch_pointer))
        except BaseException:
            return error()
        return None

    register(root, name, bump_option)


def host_result(root: wc.LinkerInstance, name: str, fn: Callable[[Ok], Ok]) -> None:
    """``bump-result(x: result<u32, string>) -> result<u32, string>`` with :class:`Ok`/:class:`Err` values."""
    start, decode = layout((OF + _RESULT_OK, "?"), (OF + _RESULT_VAL, "Q"))
    _, decode_ok = layout((OF, "I"), origin=0)
    _, decode_err = layout((OF + _SIZE, "Q"), (OF + _DATA, "Q"), origin=0)
    _, encode = layout((0, "B"), (OF + _RESULT_OK, "?"), (OF + _RESULT_VAL, "Q"))
    scratch = (ctypes.c_uint64 * (VAL // 8))()
    scratch_pointer = c_void_p(ctypes.addressof(scratch))
    _, encode_ok = layout((0, "B"), (OF, "I"))
    kind = struct.Struct("=B")

    def bump_result(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Ok], Ok] = fn,
        unpack: Unpack = decode.unpack_from,
        unpack_ok: Unpack = decode_ok.unpack_from,
        unpack_err: Unpack = decode_err.unpack_from,
        pack: Pack = encode.pack_into,
        pack_ok: Pack = encode_ok.pack_into,
        pack_kind: Pack = kind.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        scratch: Any = scratch,
        scratch_address: int = ctypes.addressof(scratch),
        scratch_pointer: c_void_p = scratch_pointer,
        box: Callable[[c_void_p], int] = _val_new,
        vec_new: Callable[[int, int, bytes], None] = _byte_vec_new,
        make_ok: Type[Ok] = Ok,
        make_err: Type[Err] = Err,
        RESULT: int = _RESULT,
        U32: int = _U32,
        STRING: int = _STRING,
        OF: int = OF,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            is_ok, ptr = unpack(memory, args + start)
            if is_ok:
                value: Ok = make_ok(unpack_ok(memory, ptr)[0])
            else:
                size, data = unpack_err(memory, ptr)
                value = make_err(str(memory[data : data + size], "utf-8"))
            out = fn(value)
            if type(out) is make_ok:
                pack_ok(scratch, 0, U32, out.value)
                pack(memory, results, RESULT, True, box(scratch_pointer))
            else:
                text = out.value.encode()
                vec_new(scratch_address + OF, len(text), text)
                pack_kind(scratch, 0, STRING)
                pack(memory, results, RESULT, False, box(scratch_pointer))
        except BaseException:
            return error()
        return None

    register(root, name, bump_result)


def host_enum(root: wc.LinkerInstance, name: str, fn: Callable[[Any], Any], cls: Type[enum.Enum]) -> None:
    """``next-color(c: color) -> color`` with an ``enum.Enum`` whose member names are the cases."""
    cases = [member.name for member in cls]
    from_name = {case.encode(): cls[case] for case in cases}
    to_name = {cls[case]: _NAMES.setdefault(case, case.encode()) for case in cases}
    start, decode = layout((OF + _SIZE, "Q"), (OF + _DATA, "Q"))
    kind = struct.Struct("=B")

    def next_color(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Any], Any] = fn,
        unpack: Unpack = decode.unpack_from,
        pack_kind: Pack = kind.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        from_name: Dict[bytes, Any] = from_name,
        to_name: Dict[Any, bytes] = to_name,
        vec_new: Callable[[int, int, bytes], None] = _byte_vec_new,
        ENUM: int = _ENUM,
        OF: int = OF,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            size, data = unpack(memory, args + start)
            out = to_name[fn(from_name[bytes(memory[data : data + size])])]
            vec_new(results + OF, len(out), out)
            pack_kind(memory, results, ENUM)
        except BaseException:
            return error()
        return None

    register(root, name, next_color)


def host_flags(root: wc.LinkerInstance, name: str, fn: Callable[[Any], Any], cls: Type[enum.Flag]) -> None:
    """``invert(p: perms) -> perms``: the result cloned by ``wasmtime_component_valflags_copy`` from a prebuilt
    ``valflags_t`` per combination of flags, whose names point at static ``bytes`` (``valflags_new`` would take
    the names over, not copy them)."""
    names = [member.name for member in cls if member.name]
    arrays, keep = _flag_arrays(cls, names)
    bit_of = {name.encode(): int(cls[name].value) for name in names}
    members = {value: cls(value) for value in arrays}
    prebuilt: Dict[int, int] = {}
    for bits, (count, array_address) in arrays.items():
        flags = _ffi.wasmtime_component_valflags_t()
        struct.pack_into("=Q", flags, _FLAGS_SIZE, count)
        struct.pack_into("=Q", flags, _FLAGS_DATA, array_address)
        keep.append(flags)
        prebuilt[bits] = ctypes.addressof(flags)
    start, decode = layout((OF + _FLAGS_SIZE, "Q"), (OF + _FLAGS_DATA, "Q"))
    _, decode_name = layout((_SIZE, "Q"), (_DATA, "Q"), origin=0)
    kind = struct.Struct("=B")

    def invert(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Any], Any] = fn,
        unpack: Unpack = decode.unpack_from,
        unpack_name: Unpack = decode_name.unpack_from,
        pack_kind: Pack = kind.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        bit_of: Dict[bytes, int] = bit_of,
        members: Dict[int, Any] = members,
        prebuilt: Dict[int, int] = prebuilt,
        flags_copy: Callable[[int, int], None] = _valflags_copy,
        FLAGS: int = _FLAGS,
        NAME: int = NAME,
        OF: int = OF,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            count, ptr = unpack(memory, args + start)
            bits = 0
            for i in range(count):
                size, data = unpack_name(memory, ptr + i * NAME)
                bits |= bit_of[bytes(memory[data : data + size])]
            flags_copy(results + OF, prebuilt[fn(members[bits]).value])
            pack_kind(memory, results, FLAGS)
        except BaseException:
            return error()
        return None

    invert.keep = keep  # type: ignore[attr-defined]
    register(root, name, invert)


def host_variant(root: wc.LinkerInstance, name: str, fn: Callable[[Any], Any], cases: Mapping[str, type]) -> None:
    """``grow(s: shape) -> shape`` with one class per case; a payload boxed by ``wasmtime_component_val_new``."""
    from_name = {case.encode(): cls for case, cls in cases.items()}
    to_name = {cls: _NAMES.setdefault(case, case.encode()) for case, cls in cases.items()}
    start, decode = layout((OF + _SIZE, "Q"), (OF + _DATA, "Q"), (OF + _VARIANT_VAL, "Q"))
    _, decode_payload = layout((OF, "d"), origin=0)
    # kind and payload pointer first: the name written by wasm_byte_vec_new sits between them
    _, encode = layout((0, "B"), (OF + _VARIANT_VAL, "Q"))
    scratch = (ctypes.c_uint64 * (VAL // 8))()
    scratch_pointer = c_void_p(ctypes.addressof(scratch))
    _, encode_payload = layout((0, "B"), (OF, "d"))

    def grow(
        env: Optional[int],
        context: Optional[int],
        ty: Optional[int],
        args: int,
        nargs: int,
        results: int,
        nresults: int,
        fn: Callable[[Any], Any] = fn,
        unpack: Unpack = decode.unpack_from,
        unpack_payload: Unpack = decode_payload.unpack_from,
        pack: Pack = encode.pack_into,
        pack_payload: Pack = encode_payload.pack_into,
        memory: memoryview = MEMORY,
        start: int = start,
        from_name: Dict[bytes, type] = from_name,
        to_name: Dict[type, bytes] = to_name,
        scratch: Any = scratch,
        scratch_pointer: c_void_p = scratch_pointer,
        box: Callable[[c_void_p], int] = _val_new,
        vec_new: Callable[[int, int, bytes], None] = _byte_vec_new,
        VARIANT: int = _VARIANT,
        F64: int = _F64,
        OF: int = OF,
        error: Callable[[], Optional[int]] = _error,
    ) -> Optional[int]:
        try:
            size, data, ptr = unpack(memory, args + start)
            cls = from_name[bytes(memory[data : data + size])]
            out = fn(cls(unpack_payload(memory, ptr)[0]) if ptr else cls())
            try:
                x = out.value
            except AttributeError:
                pack(memory, results, VARIANT, 0)
            else:
                pack_payload(scratch, 0, F64, x)
                pack(memory, results, VARIANT, box(scratch_pointer))
            case = to_name[type(out)]
            vec_new(results + OF, len(case), case)
        except BaseException:
            return error()
        return None

    register(root, name, grow)
