"""Component values in and out of ``wasmtime_component_val_t`` trees, without ctypes objects.

wasmtime's component API exchanges values as trees of
``wasmtime_component_val_t`` (a kind byte and a union; records point at
arrays of entries, lists at arrays of values, options at one boxed value).
wasmtime-py builds and walks those trees through ctypes structures, one
attribute (and one FFI type query) at a time.  wasmjit reads and writes them
with ``struct`` at absolute addresses through :data:`ffi.MEMORY`, with every
offset and kind taken once from wasmtime-py's own ctypes declarations (so a
wasmtime-py whose layout differs is followed, not guessed).

Three operations per WIT type node, built once per (type, shape, mode) and
shared by every backend:

``lower(value, at, extra, keep)``
    Write ``value`` as the ``val_t`` at address ``at``.  What it points to
    lives in Python-owned memory: fixed-size parts (a record's entries, a
    tuple's elements, an option's payload slot: :func:`static_size` bytes) at
    ``extra``, which the caller reserved next to ``at`` once; variable-size
    parts (strings, lists, flags) in new objects appended to ``keep``.
    wasmtime *borrows* the arguments of a call, so they only have to outlive
    that call, and nothing is allocated per call for fixed-size values.
``lift(at)``
    Read the ``val_t`` at ``at`` into a Python value.  Reading never frees:
    the caller frees a whole result tree with one ``val_delete``.
``write(value, at)``
    For host-function results, which wasmtime owns and frees with Rust's
    allocator: lower into Python memory, then one ``wasmtime_component_val_clone``
    copies the tree into wasmtime's allocations.  Types without heap parts
    are written in place.

Modes: ``checked`` (``wasmjit.component.typed``/``define_callback``): integers
out of range raise ``OverflowError``; ``stock`` (``install()``): values are
accepted exactly as wasmtime-py accepts them, and any value the fast path
refuses is handed to wasmtime-py's own conversion so that its exact
exception (or its silent wrap-around of out-of-range integers) is what the
caller sees.
"""

from __future__ import annotations

import ctypes
import operator
import struct
import sys
import threading
from array import array
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from wasmtime import _bindings as _b
from wasmtime import _ffi as _stock_ffi
from wasmtime import component as _c

from ..model import wit
from ..model.component_plan import flat_field
from ..model.shapes import STOCK, Shape, Some
from . import ffi

__all__ = [
    "Codec",
    "codec",
    "LAYOUT",
    "Layout",
    "bytes_address",
    "new_arena",
    "kind_of",
    "TypeMismatch",
    "release_result",
]

MEMORY = ffi.MEMORY

# The layout, from wasmtime-py's declarations --------------------------------------


@dataclass(frozen=True)
class Layout:
    val: int  # sizeof(wasmtime_component_val_t)
    of: int  # offset of the union
    entry: int  # sizeof(wasmtime_component_valrecord_entry_t)
    entry_val: int  # offset of the value in an entry
    name: int  # sizeof(wasm_name_t)
    vec_size: int  # offset of size in wasm_name_t and every *_vec/list/record/tuple/flags
    vec_data: int
    variant_val: int  # offset of the payload pointer in a variant
    result_val: int  # offset of the payload pointer in a result
    kinds: Dict[str, int]


def _vec_offsets(cls: Any) -> Tuple[int, int]:
    return int(cls.size.offset), int(cls.data.offset)


def _layout() -> Layout:
    kinds = {
        name[len("WASMTIME_COMPONENT_") :].lower(): getattr(_stock_ffi, name).value
        for name in dir(_stock_ffi)
        if name.startswith("WASMTIME_COMPONENT_")
        and "VALTYPE" not in name
        and "ITEM" not in name
        and isinstance(getattr(_stock_ffi, name), ctypes.c_uint8)
    }
    name_size, name_data = _vec_offsets(_b.wasm_name_t)
    for cls in (
        _b.wasmtime_component_vallist,
        _b.wasmtime_component_valrecord,
        _b.wasmtime_component_valtuple,
        _b.wasmtime_component_valflags,
    ):
        if _vec_offsets(cls) != (name_size, name_data):
            raise ImportError(f"wasmjit.component: {cls.__name__} is not laid out like wasm_name_t")
    return Layout(
        val=ctypes.sizeof(_b.wasmtime_component_val_t),
        of=_b.wasmtime_component_val_t.of.offset,
        entry=ctypes.sizeof(_b.wasmtime_component_valrecord_entry_t),
        entry_val=int(_b.wasmtime_component_valrecord_entry_t.val.offset),
        name=ctypes.sizeof(_b.wasm_name_t),
        vec_size=name_size,
        vec_data=name_data,
        variant_val=int(_b.wasmtime_component_valvariant.val.offset),  # type: ignore[attr-defined]
        result_val=int(_b.wasmtime_component_valresult.val.offset),  # type: ignore[attr-defined]
        kinds=kinds,
    )


LAYOUT = _layout()
VAL = LAYOUT.val
OF = LAYOUT.of
K = LAYOUT.kinds

# (size, data) at a vector's address; both fields are 8 bytes, size first.
if (LAYOUT.vec_size, LAYOUT.vec_data, LAYOUT.of) != (0, 8, 8):
    raise ImportError("wasmjit.component: wasm_name_t is expected to be {size, data} and val_t's union at 8")
_VEC = struct.Struct("<QQ")
_HEADER = struct.Struct("<B7xQQ")  # kind, then a vector (size, data) in the union
_PTR = struct.Struct("<Q")
_KIND_PTR = struct.Struct("<B7xQ")  # option: kind, boxed pointer
_pack_header = _HEADER.pack_into
_unpack_kind_vec = _HEADER.unpack_from
_unpack_vec = _VEC.unpack_from
_unpack_ptr = _PTR.unpack_from

# Both only copy or free memory (they never call back into Python): ctypes keeps the GIL.
val_delete = ffi._declare_holding_gil("wasmtime_component_val_delete", None, ctypes.c_void_p)
val_clone = ffi._declare_holding_gil("wasmtime_component_val_clone", None, ctypes.c_void_p, ctypes.c_void_p)


def _bytes_data_offset() -> int:
    sample = b"wasmjit"
    offset = (ctypes.cast(sample, ctypes.c_void_p).value or 0) - id(sample)  # type: ignore[arg-type]
    other = b"another sample"
    if (ctypes.cast(other, ctypes.c_void_p).value or 0) - id(other) != offset:  # type: ignore[arg-type]
        raise ImportError("wasmjit.component: bytes objects do not keep their data at a fixed offset")
    return offset


_BYTES_DATA = _bytes_data_offset()


def bytes_address(data: bytes) -> int:
    """The address of a ``bytes`` object's contents (valid while it is alive)."""
    return id(data) + _BYTES_DATA


def new_arena(size: int) -> Tuple[Any, int]:
    """Zeroed Python-owned memory: ``(owner, address)``."""
    buf = (ctypes.c_char * max(size, 1))()
    return buf, ctypes.addressof(buf)


def _name(text: str) -> Tuple[bytes, int, int]:
    data = text.encode("utf-8")
    return data, len(data), bytes_address(data)


_VIEWS: Dict[str, memoryview] = {}


def _view(code: str) -> memoryview:
    """The address space as items of ``code`` (index = address // size), for stores without a call."""
    found = _VIEWS.get(code)
    if found is None:
        found = _VIEWS[code] = MEMORY.cast(code)  # type: ignore[call-overload]
    return found


# Primitive formats -----------------------------------------------------------------

_PRIM_CODE = wit.PRIM_CODES
_PRIM_KIND = {"char": "char", "bool": "bool"}
_ARRAY_CODE = {"s8": "b", "u8": "B", "s16": "h", "u16": "H", "s32": "i", "u32": "I", "s64": "q", "u64": "Q"}
_INT_BITS = {"s8": 8, "u8": 8, "s16": 16, "u16": 16, "s32": 32, "u32": 32, "s64": 64, "u64": 64}


def prim_format(name: str) -> str:
    """The struct code of a primitive's payload."""
    return _PRIM_CODE[name]


def prim_kind(name: str) -> int:
    return K[_PRIM_KIND.get(name, name)]


def _range_error(name: str, value: int) -> OverflowError:
    bits = _INT_BITS[name]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if name[0] == "s" else (0, (1 << bits) - 1)
    return OverflowError(f"{value} is out of range for {name} ({low}..{high})")


# The codec -----------------------------------------------------------------------------

Lower = Callable[[Any, int, int, List[Any]], None]
Lift = Callable[[int], Any]


class StockFallback(Exception):
    """Raised by a ``stock``-mode lowering that refuses a value wasmtime-py might accept."""


@dataclass
class Codec:
    ty: wit.WitType
    lower: Lower
    lift: Lift
    owned: bool
    """True if a value of this type has heap parts (results need ``val_clone``/``val_delete``)."""
    static: int = 0
    """Bytes of out-of-line storage ``lower`` writes at ``extra`` (see :func:`static_size`)."""
    constants: Any = None
    """What lowered values point to and never changes (field, case and flag names): owned by the
    codec, which lives as long as the process (:func:`codec` caches it), not kept per call."""
    read: Optional[Lift] = None
    """``read(at)``: :attr:`lift` for a value wasmtime hands a host function, which may have been
    imported under another type than the one its trampoline was made for: the value is checked
    as it is read - its kind, element and field kinds, field names and counts, case and flag
    names - and :class:`TypeMismatch` raised where it is not a value of :attr:`ty`.  The kind
    first, before anything the union holds is dereferenced: in a value of another kind, what
    sits where a name or a pointer would be is neither."""
    make: Optional[Callable[..., Any]] = None
    """Records: the Python value from its fields' values, positionally (the shape's class, or
    wasmtime-py's ``Record``): what a host program that reads a record itself makes of it."""
    item: Any = None
    """Integers: the ``struct.Struct`` of a ``val_t`` holding one (kind, payload), which ``lower``
    packs and raises for (so a container may pack and unpack it in place of calling ``lower`` and
    ``lift``, and call ``lower`` only to raise its precise error)."""


_cache: Dict[Tuple[Any, Any, str], Codec] = {}


def codec(ty: wit.WitType, shape: Shape, mode: str) -> Codec:
    """The codec of ``ty`` with Python shape ``shape`` in ``mode`` (``checked``/``stock``), cached."""
    key = (ty, shape, mode)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = _build(ty, shape, mode)
    return found


def static_size(ty: wit.WitType) -> int:
    """Bytes of fixed-size out-of-line storage a value of ``ty`` needs next to its ``val_t``."""
    return codec(ty, STOCK, "checked").static


def _build(ty: wit.WitType, shape: Shape, mode: str) -> Codec:
    built = _build_codec(ty, shape, mode)
    assert built.read is not None, f"the codec of {ty!r} has no read"
    return built


def _build_codec(ty: wit.WitType, shape: Shape, mode: str) -> Codec:
    if isinstance(ty, wit.Prim):
        return _prim(ty, mode)
    if isinstance(ty, wit.String):
        return Codec(ty, _lower_string, _lift_string, True, read=_read_string)
    if isinstance(ty, wit.List):
        return _list(ty, shape, mode)
    if isinstance(ty, wit.Record):
        return _record(ty, shape, mode)
    if isinstance(ty, wit.Tuple_):
        return _tuple(ty, shape, mode)
    if isinstance(ty, (wit.Variant, wit.Option, wit.Result)):
        return _variant_like(ty, shape, mode)
    if isinstance(ty, wit.Enum):
        return _enum(ty, shape, mode)
    if isinstance(ty, wit.Flags):
        return _flags(ty, shape, mode)
    raise TypeError(f"no codec for {ty!r}")


# Primitives -----------------------------------------------------------------------


def _prim(ty: wit.Prim, mode: str) -> Codec:
    name = ty.name
    kind = prim_kind(name)
    item = struct.Struct("<B7x" + _PRIM_CODE[name])
    pack, unpack_item = item.pack_into, item.unpack_from
    unpack_payload = struct.Struct("<" + _PRIM_CODE[name]).unpack_from

    if name == "char":

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            if type(value) is not str or len(value) != 1:
                if mode == "stock":
                    raise StockFallback
                raise TypeError(f"expected a one-character str for char, got {value!r}")
            code = ord(value)
            if 0xD800 <= code <= 0xDFFF:
                if mode == "stock":
                    raise StockFallback
                raise ValueError(f"{value!r} is a surrogate, not a Unicode scalar value (char)")
            pack(MEMORY, at, kind, code)

        def lift_char(at: int) -> Any:
            return chr(unpack_payload(MEMORY, at + OF)[0])

        def read_char(at: int) -> Any:
            got, value = unpack_item(MEMORY, at)
            if got != kind:
                raise TypeMismatch
            return chr(value)

        return Codec(ty, lower, lift_char, False, read=read_char)

    if name == "bool":

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            if value is not True and value is not False:
                if mode == "stock":
                    raise StockFallback
                raise TypeError(f"expected bool, got {type(value).__name__}")
            pack(MEMORY, at, kind, value)

    elif name in ("f32", "f64"):

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            if type(value) is not float:
                if mode == "stock" or not isinstance(value, (int, float)) or isinstance(value, bool):
                    if mode == "stock":
                        raise StockFallback
                    raise TypeError(f"expected float for {name}, got {type(value).__name__}")
            try:
                pack(MEMORY, at, kind, value)
            except (OverflowError, struct.error):
                if mode == "stock":
                    raise StockFallback from None
                raise OverflowError(f"{value!r} is out of range for {name}") from None

    else:

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            try:
                pack(MEMORY, at, kind, value)
            except struct.error:
                if mode == "stock":
                    raise StockFallback from None
                if isinstance(value, int):
                    raise _range_error(name, value) from None
                raise TypeError(f"expected int for {name}, got {type(value).__name__}") from None

    def lift(at: int) -> Any:
        return unpack_payload(MEMORY, at + OF)[0]

    def read(at: int) -> Any:
        got, value = unpack_item(MEMORY, at)
        if got != kind:
            raise TypeMismatch
        return value

    return Codec(ty, lower, lift, False, read=read, item=item if name in _INT_BITS else None)


# Strings -----------------------------------------------------------------------------

_STRING = K["string"]


def _lower_string(value: Any, at: int, extra: int, keep: List[Any]) -> None:
    data = value.encode("utf-8") if type(value) is str else _not_str(value)
    keep.append(data)
    _pack_header(MEMORY, at, _STRING, len(data), id(data) + _BYTES_DATA)


def _not_str(value: Any) -> bytes:
    if isinstance(value, str):
        return str.encode(value, "utf-8")
    raise TypeError(f"expected str, got {type(value).__name__}")


def _lift_string(at: int) -> str:
    size, data = _unpack_vec(MEMORY, at + OF)
    return str(MEMORY[data : data + size], "utf-8")


def _read_string(at: int) -> str:
    kind, size, data = _unpack_kind_vec(MEMORY, at)
    if kind != _STRING:
        raise TypeMismatch
    return str(MEMORY[data : data + size], "utf-8")


# Lists ---------------------------------------------------------------------------------

_LIST = K["list"]


#: The unsigned ``array`` type code of each payload width (a numeric list's elements are built as one).
_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
assert all(array(code).itemsize == width for width, code in _UNSIGNED.items())
assert sys.byteorder == "little", "a val_t's kind is its first byte: the element arrays are built little-endian"
#: Where an empty list argument points (never read; not NULL).
_EMPTY = bytes(8)
_EMPTY_ADDRESS = id(_EMPTY) + _BYTES_DATA


def _list(ty: wit.List, shape: Shape, mode: str) -> Codec:
    element = ty.element
    elem_shape = shape.children[0] if shape.children else Shape()
    inner = codec(element, elem_shape, mode)
    elower, elift = inner.lower, inner.lift
    is_bytes = element == wit.Prim("u8")
    numeric = (isinstance(element, wit.Prim) and element.name in _ARRAY_CODE) or element in (
        wit.Prim("f32"),
        wit.Prim("f64"),
    )

    if numeric:
        assert isinstance(element, wit.Prim)
        code = _ARRAY_CODE.get(element.name) or _PRIM_CODE[element.name]
        width = struct.calcsize(code)
        kind_byte = bytes([prim_kind(element.name)])

        floats = code in "fd"
        # The element val_t array as unsigned items of the payload's width: each element's kind
        # (byte 0, little-endian) at items 0, step, 2 * step...; its payload at first, first + step...
        first, step = OF // width, VAL // width
        unsigned = _UNSIGNED[width]
        zeros = array(unsigned, [0])
        kinds = array(unsigned, [kind_byte[0]])

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            if (
                is_bytes
                and isinstance(value, (bytes, bytearray, memoryview))
                and (mode != "stock" or isinstance(value, bytes))
            ):
                items: Any = array(unsigned, bytes(value))
            else:
                if mode == "stock":
                    if is_bytes or not isinstance(value, list) or (floats and any(type(v) is not float for v in value)):
                        raise StockFallback
                elif not isinstance(value, (list, tuple)):
                    raise TypeError(f"expected list for {wit.wit_text(ty)}, got {type(value).__name__}")
                try:
                    items = array(code, value)
                    if code != unsigned:  # the same bytes, as the unsigned items the array is made of
                        items = array(unsigned, items.tobytes())
                except (OverflowError, TypeError):
                    if mode == "stock":
                        raise StockFallback from None
                    scratch = new_arena(VAL)
                    for item in value:  # the element codec raises the precise error
                        elower(item, scratch[1], 0, [scratch[0]])
                    raise
            n = len(items)
            if not n:
                _pack_header(MEMORY, at, _LIST, 0, _EMPTY_ADDRESS)
                return
            elements = zeros * (n * step)
            elements[0::step] = kinds * n
            elements[first::step] = items
            keep.append(elements)
            _pack_header(MEMORY, at, _LIST, n, elements.buffer_info()[0])

        def lift(at: int) -> Any:
            n, data = _unpack_vec(MEMORY, at + OF)
            if is_bytes:
                return bytes(MEMORY[data + OF : data + n * VAL : VAL])
            return MEMORY[data : data + n * VAL].cast(code)[first::step].tolist()  # type: ignore[call-overload]

        def read(at: int) -> Any:
            kind, n, data = _unpack_kind_vec(MEMORY, at)
            if kind != _LIST or (n and MEMORY[data : data + n * VAL : VAL] != kind_byte * n):
                raise TypeMismatch
            return lift(at)

        return Codec(ty, lower, lift, True, read=read)

    element_static = inner.static
    stride = VAL + element_static

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:  # type: ignore[no-redef]
        if type(value) is not list:
            if mode == "stock" or not isinstance(value, (list, tuple)):
                if mode == "stock":
                    raise StockFallback
                raise TypeError(f"expected list for {wit.wit_text(ty)}, got {type(value).__name__}")
        n = len(value)
        # One arena per list: the elements, then each element's fixed-size parts.
        buf, base = new_arena(n * stride)
        keep.append(buf)
        address = base
        element_extra = base + n * VAL
        for item in value:
            elower(item, address, element_extra, keep)
            address += VAL
            element_extra += element_static
        _pack_header(MEMORY, at, _LIST, n, base)

    def lift(at: int) -> Any:  # type: ignore[no-redef]
        n, data = _unpack_vec(MEMORY, at + OF)
        return [elift(data + i * VAL) for i in range(n)]

    eread = inner.read

    def read(at: int) -> Any:  # type: ignore[no-redef]
        kind, n, data = _unpack_kind_vec(MEMORY, at)
        if kind != _LIST:
            raise TypeMismatch
        return [eread(data + i * VAL) for i in range(n)]  # type: ignore[misc]

    return Codec(ty, lower, lift, True, read=read)


# Records and tuples -----------------------------------------------------------------

_RECORD = K["record"]
_TUPLE = K["tuple"]
_ENTRY = LAYOUT.entry
_ENTRY_VAL = LAYOUT.entry_val


def flat_entries_format(ty: wit.Record) -> str:
    """``struct`` format over the entries of a record of numbers: each entry's name size and
    address, its value's kind and payload, in field order (4 items per field).  The record codec's
    ``read`` and a host program's own read (``ComponentPlan.host_fields_format``) both use it."""
    parts = ["<"]
    position = 0
    for i, (_, t) in enumerate(ty.fields):
        code = _PRIM_CODE[t.name]  # type: ignore[union-attr]
        start = i * _ENTRY
        parts.append(f"{start - position}xQQ{_ENTRY_VAL - 16}xB{OF - 1}x{code}")
        position = start + _ENTRY_VAL + OF + struct.calcsize("<" + code)
    return "".join(parts)


def _record(ty: wit.Record, shape: Shape, mode: str) -> Codec:
    names = [n for n, _ in ty.fields]
    codecs = [codec(t, shape.child(i), mode) for i, (_, t) in enumerate(ty.fields)]
    encoded = [_name(n) for n in names]
    keepalive = [e[0] for e in encoded]
    names_bytes = [n.encode("utf-8") for n in names]
    sizes = tuple(size for _, size, _ in encoded)
    n = len(names)
    entries = n * _ENTRY
    static = entries + sum(c.static for c in codecs)
    # The entries' names never change: one template, copied into place per value.
    template = bytearray(entries)
    for i, (_, size, address) in enumerate(encoded):
        _VEC.pack_into(template, i * _ENTRY, size, address)
    cls = shape.py
    attrs = shape.attrs if cls is not None else tuple(names)
    flat = n > 0 and all(flat_field(t, mode) for _, t in ty.fields)

    if cls is None:
        new_record = _c.Record.__new__
        record_class = _c.Record

        def make(values: Any) -> Any:
            # wasmtime-py's Record: a plain object with one attribute per field.
            record = new_record(record_class)
            record.__dict__.update(zip(names, values, strict=True))
            return record

    else:
        make_cls = cls

        def make(values: Any) -> Any:
            return make_cls(*values)

    def check(value: Any) -> None:
        # Records are read by attribute, like wasmtime-py's: any object with the fields will do.
        pass

    def missing(value: Any, attr: str) -> BaseException:
        if mode == "stock":
            return StockFallback()
        return TypeError(f"{type(value).__name__} has no field {attr!r} of {wit.wit_text(ty)}")

    if flat:
        # Every field a number: names and kinds are constant (the template);
        # each payload is one item store through a typed view of the address
        # space (no call); all of them are read back by one struct call.
        writers = []
        parts = ["<"]
        position = 0
        for i, (_, t) in enumerate(ty.fields):
            code = _PRIM_CODE[t.name]  # type: ignore[union-attr]
            offset = i * _ENTRY + _ENTRY_VAL + OF
            template[i * _ENTRY + _ENTRY_VAL] = prim_kind(t.name)  # type: ignore[union-attr]
            width = struct.calcsize("<" + code)
            writers.append((_view(code), offset, width))
            parts.append(f"{offset - position}x{code}")
            position = offset + width
        unpack_payloads = struct.Struct("".join(parts)).unpack_from
        get = operator.attrgetter(*attrs)
        single = n == 1
        template_bytes = bytes(template)
        end = len(template_bytes)

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            check(value)
            try:
                items = (get(value),) if single else get(value)
            except AttributeError as exc:
                raise missing(value, getattr(exc, "name", None) or "?") from None
            MEMORY[extra : extra + end] = template_bytes
            try:
                for (view, offset, width), item in zip(writers, items, strict=True):
                    view[(extra + offset) // width] = item
            except (TypeError, ValueError):
                # The field codecs say precisely what is wrong.
                for i, c in enumerate(codecs):
                    c.lower(items[i], extra + i * _ENTRY + _ENTRY_VAL, 0, keep)
                raise
            _pack_header(MEMORY, at, _RECORD, n, extra)

        def lift(at: int) -> Any:
            data = _unpack_ptr(MEMORY, at + OF + 8)[0]
            return make(unpack_payloads(MEMORY, data))

        # One struct call reads every entry's name (size, address), kind and payload.
        unpack_entries = struct.Struct(flat_entries_format(ty)).unpack_from
        # What must be constant, picked out of what the struct call read by one itemgetter each:
        # each entry's name size and kind, and then the names themselves (one byte: one compare).
        constant = operator.itemgetter(*[j for i in range(n) for j in (4 * i, 4 * i + 2)])
        expected = tuple(x for i, (_, t) in enumerate(ty.fields) for x in (sizes[i], prim_kind(t.name)))  # type: ignore[union-attr]
        payloads = operator.itemgetter(*range(3, 4 * n, 4))
        one_byte = [(4 * i + 1, name[0]) for i, name in enumerate(names_bytes) if len(name) == 1]
        longer = [(4 * i + 1, name) for i, name in enumerate(names_bytes) if len(name) != 1]
        if cls is not None:
            construct = cls  # the user's class, called here directly
        else:

            def construct(*values: Any) -> Any:
                return make(values)

        def read(at: int) -> Any:
            kind, count, data = _unpack_kind_vec(MEMORY, at)
            if kind != _RECORD or count != n:
                raise TypeMismatch
            got = unpack_entries(MEMORY, data)
            if constant(got) != expected:
                raise TypeMismatch
            for where, byte in one_byte:
                if MEMORY[got[where]] != byte:
                    raise TypeMismatch
            for where, name in longer:
                address = got[where]
                if MEMORY[address : address + len(name)] != name:
                    raise TypeMismatch
            return construct(payloads(got)) if single else construct(*payloads(got))

        if n == 2 and not longer:  # two one-byte names ({x, y}, ...): the loops unrolled
            (w0, b0), (w1, b1) = one_byte

            def read(at: int) -> Any:
                kind, count, data = _unpack_kind_vec(MEMORY, at)
                if kind != _RECORD or count != 2:
                    raise TypeMismatch
                got = unpack_entries(MEMORY, data)
                if constant(got) != expected or MEMORY[got[w0]] != b0 or MEMORY[got[w1]] != b1:
                    raise TypeMismatch
                return construct(*payloads(got))

        return Codec(ty, lower, lift, True, static, keepalive, read, make=construct)

    template_bytes = bytes(template)
    end = len(template_bytes)
    fields = []
    offset = entries
    for attr, c in zip(attrs, codecs, strict=True):
        fields.append((attr, c.lower, offset))
        offset += c.static
    lifts = [c.lift for c in codecs]

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:  # type: ignore[no-redef]
        check(value)
        MEMORY[extra : extra + end] = template_bytes
        address = extra + _ENTRY_VAL
        for attr, low, field_extra in fields:
            try:
                item = getattr(value, attr)
            except AttributeError:
                raise missing(value, attr) from None
            low(item, address, extra + field_extra, keep)
            address += _ENTRY
        _pack_header(MEMORY, at, _RECORD, n, extra)

    def lift(at: int) -> Any:  # type: ignore[no-redef]
        data = _unpack_ptr(MEMORY, at + OF + 8)[0]
        address = data + _ENTRY_VAL
        values = []
        for lift_field in lifts:
            values.append(lift_field(address))
            address += _ENTRY
        return make(values)

    checked_fields = [(name, size, c.read) for name, size, c in zip(names_bytes, sizes, codecs, strict=True)]

    def read(at: int) -> Any:  # type: ignore[no-redef]
        kind, count, data = _unpack_kind_vec(MEMORY, at)
        if kind != _RECORD or count != n:
            raise TypeMismatch
        values = []
        entry = data
        for name, size, read_field in checked_fields:
            got_size, address = _VEC.unpack_from(MEMORY, entry)
            if got_size != size or MEMORY[address : address + size] != name:
                raise TypeMismatch
            values.append(read_field(entry + _ENTRY_VAL))  # type: ignore[misc]
            entry += _ENTRY
        return make(values)

    return Codec(ty, lower, lift, True, static, keepalive, read)


def _tuple(ty: wit.Tuple_, shape: Shape, mode: str) -> Codec:
    codecs = [codec(t, shape.child(i), mode) for i, t in enumerate(ty.elements)]
    n = len(codecs)
    items = []
    offset = n * VAL
    for i, c in enumerate(codecs):
        items.append((c.lower, i * VAL, offset))
        offset += c.static
    static = offset
    lifts = [c.lift for c in codecs]

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        if type(value) is not tuple:
            if mode == "stock" or not isinstance(value, tuple):
                if mode == "stock":
                    raise StockFallback
                raise TypeError(f"expected tuple for {wit.wit_text(ty)}, got {type(value).__name__}")
        if len(value) != n:
            if mode == "stock":
                raise StockFallback
            raise TypeError(f"expected a tuple of {n} for {wit.wit_text(ty)}, got {len(value)}")
        for (low, position, element_extra), item in zip(items, value, strict=True):
            low(item, extra + position, extra + element_extra, keep)
        _pack_header(MEMORY, at, _TUPLE, n, extra)

    def lift(at: int) -> Any:
        data = _unpack_ptr(MEMORY, at + OF + 8)[0]
        return tuple([lift_item(data + i * VAL) for i, lift_item in enumerate(lifts)])

    reads = [c.read for c in codecs]

    def read(at: int) -> Any:
        kind, count, data = _unpack_kind_vec(MEMORY, at)
        if kind != _TUPLE or count != n:
            raise TypeMismatch
        return tuple([read_item(data + i * VAL) for i, read_item in enumerate(reads)])  # type: ignore[misc]

    return Codec(ty, lower, lift, True, static, read=read)


# Variants, options, results ---------------------------------------------------------

_VARIANT = K["variant"]
_OPTION = K["option"]
_RESULT = K["result"]
_VARIANT_HEADER = struct.Struct("<B7xQQQ")  # kind, discriminant (size, data), payload pointer
_RESULT_HEADER = struct.Struct("<B7x?7xQ")  # kind, is_ok, payload pointer
assert LAYOUT.variant_val == LAYOUT.name and LAYOUT.result_val == 8


def _cases_of(ty: Any) -> List[Tuple[str, Optional[wit.WitType]]]:
    if isinstance(ty, wit.Option):
        return [("none", None), ("some", ty.payload)]
    if isinstance(ty, wit.Result):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def _stock_classes(ty: Optional[wit.WitType]) -> "set[type]":
    """wasmtime-py's ``add_classes`` for ``ty`` (how stock tells untagged cases apart)."""
    if ty is None:
        return {object}
    if isinstance(ty, wit.Prim):
        return (
            {bool}
            if ty.name == "bool"
            else {float}
            if ty.name in ("f32", "f64")
            else ({str} if ty.name == "char" else {int})
        )
    if isinstance(ty, wit.String):
        return {str}
    if isinstance(ty, wit.List):
        return {bytes} if ty.element == wit.Prim("u8") else {list}
    if isinstance(ty, wit.Record):
        return {_c.Record}
    if isinstance(ty, wit.Tuple_):
        return {tuple}
    if isinstance(ty, wit.Enum):
        return {str}
    if isinstance(ty, wit.Flags):
        return {set}
    if isinstance(ty, wit.Resource):
        return {_c.ResourceAny, _c.ResourceHost}
    cases = _cases_of(ty)
    if _stock_tagged(cases):
        return {_c.Variant}
    out: "set[type]" = set()
    for _, payload in cases:
        out |= _stock_classes(payload)
    return out


def _stock_tagged(cases: List[Tuple[str, Optional[wit.WitType]]]) -> bool:
    seen: "set[type]" = set()
    for _, payload in cases:
        classes = _stock_classes(payload)
        if classes & seen:
            return True
        seen |= classes
    return False


def _variant_like(ty: Any, shape: Shape, mode: str) -> Codec:
    cases = _cases_of(ty)
    payload_codecs = [None if t is None else codec(t, shape.child(i), mode) for i, (_, t) in enumerate(cases)]
    names = [_name(n) for n, _ in cases]
    keepalive = [e[0] for e in names]
    by_name = {e[0]: i for i, e in enumerate(names)}
    is_option = isinstance(ty, wit.Option)
    is_result = isinstance(ty, wit.Result)
    kind = _OPTION if is_option else _RESULT if is_result else _VARIANT
    user = shape.py is not None or shape.kind in ("option", "result")
    tagged = False

    # How a Python value picks its case, and how a case becomes a value.
    if not user:
        tagged = _stock_tagged(cases)
        case_classes = [tuple(_stock_classes(t)) for _, t in cases]

        def pick(value: Any) -> Tuple[int, Any]:
            for index, (name, payload) in enumerate(cases):
                if tagged:
                    if not isinstance(value, _c.Variant):
                        if mode == "stock":
                            raise StockFallback
                        got = type(value).__name__
                        raise TypeError(f"expected wasmtime.component.Variant for {wit.wit_text(ty)}, got {got}")
                    if name != value.tag:
                        continue
                    return index, value.payload
                if payload is None:
                    if value is not None:
                        continue
                    return index, None
                if not isinstance(value, case_classes[index]):
                    continue
                return index, value
            if mode == "stock":
                raise StockFallback
            raise ValueError(f"value not valid for {wit.wit_text(ty)}: {value!r}")

        def build(index: int, payload: Any) -> Any:
            if tagged:
                return _c.Variant(cases[index][0], payload)
            return payload

    elif shape.kind == "option":
        nested = shape.nested

        def pick(value: Any) -> Tuple[int, Any]:
            if value is None:
                return 0, None
            if nested:
                if not isinstance(value, Some):
                    raise TypeError(f"expected None or wasmjit.component.Some for {wit.wit_text(ty)}")
                return 1, value.value
            return 1, value

        def build(index: int, payload: Any) -> Any:
            if index == 0:
                return None
            return Some(payload) if nested else payload

    elif shape.kind == "result":
        from ..model.shapes import Err, Ok

        def pick(value: Any) -> Tuple[int, Any]:
            if type(value) is Ok:
                return 0, value.value
            if type(value) is Err:
                return 1, value.value
            raise TypeError(f"expected wasmjit.component.Ok or Err for {wit.wit_text(ty)}, got {type(value).__name__}")

        def build(index: int, payload: Any) -> Any:
            return Ok(payload) if index == 0 else Err(payload)

    else:
        classes: Tuple[Any, ...] = shape.py
        index_of = {cls: i for i, cls in enumerate(classes)}
        with_payload = [t is not None for _, t in cases]

        def pick(value: Any) -> Tuple[int, Any]:
            index = index_of.get(type(value))
            if index is None:
                raise TypeError(
                    f"expected one of {', '.join(c.__name__ for c in classes)} for {wit.wit_text(ty)},"
                    f" got {type(value).__name__}"
                )
            return index, value.value if with_payload[index] else None

        def build(index: int, payload: Any) -> Any:
            cls = classes[index]
            return cls(payload) if with_payload[index] else cls()

    # The payload's slot (and its fixed-size parts) at ``extra``, whatever the case.
    static = VAL + max((c.static for c in payload_codecs if c is not None), default=0)

    plain_option = is_option and ((shape.kind == "option" and not shape.nested) or (not user and not tagged))
    if plain_option:
        # option<T> as None or the payload itself (the common case): no case picking.
        some = payload_codecs[1]
        assert some is not None
        some_lower, some_lift = some.lower, some.lift
        pack_option, unpack_option = _KIND_PTR.pack_into, _KIND_PTR.unpack_from

        some_read, some_kind = some.read, kind_of(cases[1][1])  # type: ignore[arg-type]

        def lower_option(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            if value is None:
                pack_option(MEMORY, at, _OPTION, 0)
            else:
                some_lower(value, extra, extra + VAL, keep)
                pack_option(MEMORY, at, _OPTION, extra)

        def lift_option(at: int) -> Any:
            pointer = _unpack_ptr(MEMORY, at + OF)[0]
            return some_lift(pointer) if pointer else None

        def read_option(at: int) -> Any:
            kind, pointer = unpack_option(MEMORY, at)
            if kind != _OPTION:
                raise TypeMismatch
            return some_read(pointer) if pointer else None  # type: ignore[misc]

        if some.item is not None:  # an integer: packed and unpacked in place, no codec call
            pack_some, unpack_some = some.item.pack_into, some.item.unpack_from

            def lower_option(value: Any, at: int, extra: int, keep: List[Any]) -> None:
                if value is None:
                    pack_option(MEMORY, at, _OPTION, 0)
                    return
                try:
                    pack_some(MEMORY, extra, some_kind, value)
                except Exception:
                    some_lower(value, extra, extra + VAL, keep)  # its precise error
                    raise
                pack_option(MEMORY, at, _OPTION, extra)

            def lift_option(at: int) -> Any:
                pointer = _unpack_ptr(MEMORY, at + OF)[0]
                return unpack_some(MEMORY, pointer)[1] if pointer else None

            def read_option(at: int) -> Any:
                kind, pointer = unpack_option(MEMORY, at)
                if kind != _OPTION:
                    raise TypeMismatch
                if not pointer:
                    return None
                kind, value = unpack_some(MEMORY, pointer)
                if kind != some_kind:
                    raise TypeMismatch
                return value

        return Codec(ty, lower_option, lift_option, True, static, keepalive, read_option)

    if shape.kind == "result":
        return _result_codec(ty, payload_codecs, static, keepalive)
    if user and shape.kind == "variant":
        return _case_class_codec(ty, shape, payload_codecs, names, static, keepalive)

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        index, payload = pick(value)
        low = payload_codecs[index]
        pointer = 0
        if low is not None:
            pointer = extra
            low.lower(payload, extra, extra + VAL, keep)
        if is_option:
            _KIND_PTR.pack_into(MEMORY, at, kind, pointer)
        elif is_result:
            _RESULT_HEADER.pack_into(MEMORY, at, kind, index == 0, pointer)
        else:
            _, size, address = names[index]
            _VARIANT_HEADER.pack_into(MEMORY, at, kind, size, address, pointer)

    def lift(at: int) -> Any:
        if is_option:
            pointer = _unpack_ptr(MEMORY, at + OF)[0]
            index = 1 if pointer else 0
        elif is_result:
            _, ok, pointer = _RESULT_HEADER.unpack_from(MEMORY, at)
            index = 0 if ok else 1
        else:
            _, size, data, pointer = _VARIANT_HEADER.unpack_from(MEMORY, at)
            index = by_name[bytes(MEMORY[data : data + size])]
        payload_codec = payload_codecs[index]
        payload = None if payload_codec is None else payload_codec.lift(pointer)
        return build(index, payload)

    def read(at: int) -> Any:
        if is_option:
            got, pointer = _KIND_PTR.unpack_from(MEMORY, at)
            index = 1 if pointer else 0
        elif is_result:
            got, ok, pointer = _RESULT_HEADER.unpack_from(MEMORY, at)
            index = 0 if ok else 1
        else:
            got, size, data, pointer = _VARIANT_HEADER.unpack_from(MEMORY, at)
            if got != kind:  # before the name is read: another kind's fields are no name
                raise TypeMismatch
            found = by_name.get(bytes(MEMORY[data : data + size]))
            if found is None:
                raise TypeMismatch
            index = found
        payload_codec = payload_codecs[index]
        if got != kind or (payload_codec is None) != (not pointer):
            raise TypeMismatch
        payload = None if payload_codec is None else payload_codec.read(pointer)  # type: ignore[misc]
        return build(index, payload)

    return Codec(ty, lower, lift, True, static, keepalive, read)


def _payload_kinds(cases: List[Tuple[str, Optional[wit.WitType]]]) -> List[Optional[int]]:
    """The kind byte of each case's payload (``None``: the case has none)."""
    return [None if t is None else kind_of(t) for _, t in cases]


def _result_codec(ty: Any, payload_codecs: List[Optional[Codec]], static: int, keepalive: List[Any]) -> Codec:
    """``result<T, E>`` as :class:`~wasmjit.model.shapes.Ok`/``Err``: one call each way, no case
    picking; an integer payload packed and unpacked in place."""
    from ..model.shapes import Err, Ok

    pack, unpack = _RESULT_HEADER.pack_into, _RESULT_HEADER.unpack_from
    kinds = _payload_kinds(_cases_of(ty))

    def case(index: int) -> Tuple[Any, Any, Any, Any, Any, Optional[int]]:
        """(lower, lift, read, item pack, item unpack, payload kind) of case ``index`` (ok, err)."""
        c = payload_codecs[index]
        if c is None:
            return None, None, None, None, None, None
        item = c.item
        return (
            c.lower,
            c.lift,
            c.read,
            None if item is None else item.pack_into,
            None if item is None else item.unpack_from,
            kinds[index],
        )

    ok_lower, ok_lift, ok_read, ok_pack, ok_unpack, ok_kind = case(0)
    err_lower, err_lift, err_read, err_pack, err_unpack, err_kind = case(1)

    # Each case spelled out (no per-call tuple of the case's functions): these run per value.
    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        cls = type(value)
        if cls is Ok:
            if ok_lower is None:
                pack(MEMORY, at, _RESULT, True, 0)
                return
            if ok_pack is None:
                ok_lower(value.value, extra, extra + VAL, keep)
            else:
                try:
                    ok_pack(MEMORY, extra, ok_kind, value.value)
                except Exception:
                    ok_lower(value.value, extra, extra + VAL, keep)  # its precise error
                    raise
            pack(MEMORY, at, _RESULT, True, extra)
        elif cls is Err:
            if err_lower is None:
                pack(MEMORY, at, _RESULT, False, 0)
                return
            if err_pack is None:
                err_lower(value.value, extra, extra + VAL, keep)
            else:
                try:
                    err_pack(MEMORY, extra, err_kind, value.value)
                except Exception:
                    err_lower(value.value, extra, extra + VAL, keep)  # its precise error
                    raise
            pack(MEMORY, at, _RESULT, False, extra)
        else:
            raise TypeError(f"expected wasmjit.component.Ok or Err for {wit.wit_text(ty)}, got {cls.__name__}")

    def lift(at: int) -> Any:
        _, is_ok, pointer = unpack(MEMORY, at)
        if is_ok:
            if ok_unpack is not None:
                return Ok(ok_unpack(MEMORY, pointer)[1])
            return Ok(None if ok_lift is None else ok_lift(pointer))
        if err_unpack is not None:
            return Err(err_unpack(MEMORY, pointer)[1])
        return Err(None if err_lift is None else err_lift(pointer))

    def read(at: int) -> Any:
        got, is_ok, pointer = unpack(MEMORY, at)
        if got != _RESULT:
            raise TypeMismatch
        if is_ok:
            if ok_kind is None:  # no payload: none there
                if pointer:
                    raise TypeMismatch
                return Ok(None)
            if not pointer:
                raise TypeMismatch
            if ok_unpack is None:
                return Ok(ok_read(pointer))
            got, value = ok_unpack(MEMORY, pointer)
            if got != ok_kind:
                raise TypeMismatch
            return Ok(value)
        if err_kind is None:
            if pointer:
                raise TypeMismatch
            return Err(None)
        if not pointer:
            raise TypeMismatch
        if err_unpack is None:
            return Err(err_read(pointer))
        got, value = err_unpack(MEMORY, pointer)
        if got != err_kind:
            raise TypeMismatch
        return Err(value)

    return Codec(ty, lower, lift, True, static, keepalive, read)


def _case_class_codec(
    ty: Any,
    shape: Shape,
    payload_codecs: List[Optional[Codec]],
    names: List[Tuple[bytes, int, int]],
    static: int,
    keepalive: List[Any],
) -> Codec:
    """A ``variant`` as a ``Union`` of case classes (``value`` holds the payload): one dictionary
    look-up per value picks the case, one per result picks the class."""
    classes: Tuple[Any, ...] = shape.py
    lowers = [None if c is None else c.lower for c in payload_codecs]
    lifts = [None if c is None else c.lift for c in payload_codecs]
    #: class -> (name size, name address, the payload's lower or None)
    by_class = {cls: (names[i][1], names[i][2], lowers[i]) for i, cls in enumerate(classes)}
    #: name -> (class, the payload's lift or None)
    by_name = {names[i][0]: (cls, lifts[i]) for i, cls in enumerate(classes)}
    pack, unpack = _VARIANT_HEADER.pack_into, _VARIANT_HEADER.unpack_from

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        found = by_class.get(type(value))
        if found is None:
            raise TypeError(
                f"expected one of {', '.join(c.__name__ for c in classes)} for {wit.wit_text(ty)},"
                f" got {type(value).__name__}"
            )
        size, address, low = found
        if low is None:
            pack(MEMORY, at, _VARIANT, size, address, 0)
        else:
            low(value.value, extra, extra + VAL, keep)
            pack(MEMORY, at, _VARIANT, size, address, extra)

    def lift(at: int) -> Any:
        _, size, data, pointer = unpack(MEMORY, at)
        cls, lift_payload = by_name[bytes(MEMORY[data : data + size])]
        return cls() if lift_payload is None else cls(lift_payload(pointer))

    #: name -> (class, the payload's read or None)
    read_by_name = {
        names[i][0]: (cls, None if payload_codecs[i] is None else payload_codecs[i].read)  # type: ignore[union-attr]
        for i, cls in enumerate(classes)
    }

    def read(at: int) -> Any:
        kind, size, data, pointer = unpack(MEMORY, at)
        if kind != _VARIANT:  # before the name is read: another kind's fields are no name
            raise TypeMismatch
        found = read_by_name.get(bytes(MEMORY[data : data + size]))
        if found is None:
            raise TypeMismatch
        cls, read_payload = found
        if read_payload is None:
            if pointer:
                raise TypeMismatch
            return cls()
        if not pointer:
            raise TypeMismatch
        return cls(read_payload(pointer))

    return Codec(ty, lower, lift, True, static, keepalive, read)


# Enums and flags ------------------------------------------------------------------------

_ENUM = K["enum"]
_FLAGS = K["flags"]


def _enum(ty: wit.Enum, shape: Shape, mode: str) -> Codec:
    names = [_name(n) for n in ty.names]
    keepalive = [e[0] for e in names]
    members: Tuple[Any, ...] = shape.py_members if shape.py is not None else tuple(ty.names)
    index_of: Dict[Any, int] = {m: i for i, m in enumerate(members)}
    by_name = {e[0]: members[i] for i, e in enumerate(names)}
    cls = shape.py

    def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        try:
            index = index_of[value]
        except (KeyError, TypeError):
            if mode == "stock":
                raise StockFallback from None
            expected = cls.__name__ if cls is not None else "one of " + ", ".join(map(repr, ty.names))
            raise (TypeError if cls is not None and not isinstance(value, cls) else ValueError)(
                f"expected {expected} for {wit.wit_text(ty)}, got {value!r}"
            ) from None
        _, size, address = names[index]
        _pack_header(MEMORY, at, _ENUM, size, address)

    def lift(at: int) -> Any:
        size, data = _unpack_vec(MEMORY, at + OF)
        return by_name[bytes(MEMORY[data : data + size])]

    def read(at: int) -> Any:
        kind, size, data = _unpack_kind_vec(MEMORY, at)
        if kind != _ENUM:  # before the name is read: another kind's fields are no name
            raise TypeMismatch
        member = by_name.get(bytes(MEMORY[data : data + size]), _NOT_FOUND)
        if member is _NOT_FOUND:
            raise TypeMismatch
        return member

    return Codec(ty, lower, lift, True, 0, keepalive, read)


#: How many distinct values of one flags type keep their encoding (and one enum.Flag member per value).
MAX_CACHED = 4096


def _flags(ty: wit.Flags, shape: Shape, mode: str) -> Codec:
    names = [_name(n) for n in ty.names]
    keepalive = [e[0] for e in names]
    cls = shape.py
    members: Tuple[Any, ...] = shape.py_members if cls is not None else tuple(ty.names)
    index_of: Dict[Any, int] = {m: i for i, m in enumerate(members)}
    by_name = {e[0]: members[i] for i, e in enumerate(names)}
    name_vec = struct.Struct("<QQ")

    def members_of(value: Any) -> List[int]:
        if cls is None:
            if type(value) is not set:
                if mode == "stock" or not isinstance(value, (set, frozenset)):
                    if mode == "stock":
                        raise StockFallback
                    raise TypeError(f"expected a set of str for {wit.wit_text(ty)}, got {type(value).__name__}")
            try:
                return [index_of[m] for m in value]
            except (KeyError, TypeError):
                if mode == "stock":
                    raise StockFallback from None
                unknown = sorted(repr(m) for m in value if m not in index_of)
                raise ValueError(f"{', '.join(unknown)} not in {wit.wit_text(ty)}") from None
        if not isinstance(value, cls):
            raise TypeError(f"expected {cls.__name__} for {wit.wit_text(ty)}, got {type(value).__name__}")
        return [i for i, m in enumerate(members) if m in value]

    vectors = [name_vec.pack(size, data) for _, size, data in names]
    vector_size = LAYOUT.name

    if cls is None:

        def lower(value: Any, at: int, extra: int, keep: List[Any]) -> None:
            indices = members_of(value)
            # The name vectors of the members, side by side, in a new bytes object.
            array_bytes = b"".join([vectors[index] for index in indices])
            keep.append(array_bytes)
            _pack_header(MEMORY, at, _FLAGS, len(indices), id(array_bytes) + _BYTES_DATA)

        def lift(at: int) -> Any:
            n, data = _unpack_vec(MEMORY, at + OF)
            out = set()
            for address in range(data, data + n * vector_size, vector_size):
                size, name = name_vec.unpack_from(MEMORY, address)
                out.add(by_name[bytes(MEMORY[name : name + size])])
            return out

        def read(at: int) -> Any:
            if MEMORY[at] != _FLAGS:
                raise TypeMismatch
            try:
                return lift(at)
            except KeyError:  # a flag this type does not have
                raise TypeMismatch from None

        return Codec(ty, lower, lift, True, 0, keepalive, read)

    # An enum.Flag: a value is its integer; the name vectors of each integer met are made once
    # (and kept: as many as distinct values cross, at most MAX_CACHED), as is each result's member.
    bit_of = {e[0]: int(members[i]._value_) for i, e in enumerate(names)}
    member_bits = [(int(m._value_), i) for i, m in enumerate(members)]
    encoded: Dict[int, Tuple[bytes, int]] = {}
    decoded: Dict[int, Any] = {}

    def lower_flag(value: Any, at: int, extra: int, keep: List[Any]) -> None:
        if not isinstance(value, cls):
            raise TypeError(f"expected {cls.__name__} for {wit.wit_text(ty)}, got {type(value).__name__}")
        bits = value._value_
        found = encoded.get(bits)
        if found is None:
            indices = [i for bit, i in member_bits if bits & bit == bit and bit]
            found = (b"".join([vectors[i] for i in indices]), len(indices))
            if len(encoded) < MAX_CACHED:
                encoded[bits] = found
        array_bytes, count = found
        keep.append(array_bytes)
        _pack_header(MEMORY, at, _FLAGS, count, id(array_bytes) + _BYTES_DATA)

    def lift_flag(at: int) -> Any:
        n, data = _unpack_vec(MEMORY, at + OF)
        bits = 0
        for address in range(data, data + n * vector_size, vector_size):
            size, name = name_vec.unpack_from(MEMORY, address)
            bits |= bit_of[bytes(MEMORY[name : name + size])]
        member = decoded.get(bits)
        return new_member(bits) if member is None else member

    def read_flag(at: int) -> Any:
        kind, n, data = _unpack_kind_vec(MEMORY, at)
        if kind != _FLAGS:
            raise TypeMismatch
        bits = 0
        for address in range(data, data + n * vector_size, vector_size):
            size, name = name_vec.unpack_from(MEMORY, address)
            bit = bit_of.get(bytes(MEMORY[name : name + size]))
            if bit is None:  # a flag this type does not have
                raise TypeMismatch
            bits |= bit
        member = decoded.get(bits)
        return new_member(bits) if member is None else member

    def new_member(bits: int) -> Any:
        member = cls(bits)
        if len(decoded) < MAX_CACHED:
            decoded[bits] = member
        return member

    return Codec(ty, lower_flag, lift_flag, True, 0, keepalive, read_flag)


# Kinds -----------------------------------------------------------------------------------------


_KIND_NAMES: Dict[type, str] = {
    wit.String: "string",
    wit.List: "list",
    wit.Record: "record",
    wit.Tuple_: "tuple",
    wit.Variant: "variant",
    wit.Enum: "enum",
    wit.Option: "option",
    wit.Result: "result",
    wit.Flags: "flags",
    wit.Resource: "resource",
}


def kind_of(ty: wit.WitType) -> int:
    """The ``val_t`` kind byte of a value of ``ty``."""
    if isinstance(ty, wit.Prim):
        return prim_kind(ty.name)
    return K[_KIND_NAMES[type(ty)]]


class TypeMismatch(Exception):
    """A host call presented values of another type than its trampoline's (re-specialise)."""


_NOT_FOUND = object()


def release_result(at: int) -> None:
    """Free a result tree wasmtime wrote at ``at`` and leave a valid empty value there.

    wasmtime overwrites a result slot by dropping what it held: the slot must
    never keep pointers that were already freed.
    """
    val_delete(at)
    MEMORY[at] = K["bool"]


class Scratch(threading.local):
    """Python-owned memory a host function lowers its result into, one per thread (a host function
    serves every store its linker instantiates into, on any thread): ``where`` is ``(address of
    the val_t, address of the fixed-size parts after it)``."""

    def __init__(self, size: int) -> None:
        self.arena, at = new_arena(size)
        self.where = (at, at + VAL)


def prepare_flat_record(ty: wit.Record, at: int, extra: int) -> List[Any]:
    """Write the constant parts of a record of numbers once: its ``val_t`` header at ``at`` (kind,
    field count, entries at ``extra``) and each entry's name and kind.  A typed call then only
    stores the payloads (``ComponentPlan.flat_stores``).  Returns what must stay alive."""
    keep: List[Any] = []
    _pack_header(MEMORY, at, _RECORD, len(ty.fields), extra)
    for j, (name, field_type) in enumerate(ty.fields):
        data, size, address = _name(name)
        keep.append(data)
        entry = extra + j * _ENTRY
        _VEC.pack_into(MEMORY, entry, size, address)
        MEMORY[entry + _ENTRY_VAL] = kind_of(field_type)
    return keep
