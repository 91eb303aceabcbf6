"""Small generic helpers for tests that build real wasm modules.

Shared by several test files: keep additions generic and backwards compatible.

The central piece is :func:`forwarding_wat`: a module that imports one host
function of a given signature and exports ``run``, which calls the import
with its own parameters and returns the import's results.  With
``carriers=True`` every value crosses the Python <-> wasm boundary of ``run``
as an integer carrier (f32 as its i32 bits, f64 as its i64 bits, v128 as two
i64 lanes), so what the *import* received and returned can be checked
bit-for-bit, independently of how the outer call converts floats.
"""

from __future__ import annotations

import math
import struct
import weakref
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import wasmtime

import wasmjit

KINDS = ("i32", "i64", "f32", "f64", "v128", "funcref", "externref")
NUMERIC_KINDS = ("i32", "i64", "f32", "f64")
REF_KINDS = ("funcref", "externref")

I32_MIN, I32_MAX, U32_MAX = -(1 << 31), (1 << 31) - 1, (1 << 32) - 1
I64_MIN, I64_MAX, U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1

#: Largest finite f32, as a Python float.
F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]

#: What carries each kind across ``run`` when ``carriers=True``.
CARRIERS: Dict[str, Tuple[str, ...]] = {
    "i32": ("i32",),
    "i64": ("i64",),
    "f32": ("i32",),
    "f64": ("i64",),
    "v128": ("i64", "i64"),
    "funcref": ("funcref",),
    "externref": ("externref",),
}

_TO_CARRIER = {"f32": ("i32.reinterpret_f32",), "f64": ("i64.reinterpret_f64",)}
_FROM_CARRIER = {"f32": ("f32.reinterpret_i32",), "f64": ("f64.reinterpret_i64",)}


# Bits and numbers ------------------------------------------------------------


def signed(value: int, bits: int) -> int:
    """``value`` (any int) reduced to ``bits`` bits and read as signed."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def unsigned(value: int, bits: int) -> int:
    return value & ((1 << bits) - 1)


def f32_bits(value: float) -> int:
    """The IEEE single bit pattern of ``value`` rounded to nearest (too large: infinity, like ``f32.demote_f64``)."""
    try:
        packed = struct.pack("<f", value)
    except OverflowError:
        packed = struct.pack("<f", math.copysign(math.inf, value))
    return int(struct.unpack("<I", packed)[0])


def f64_bits(value: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


def f32_from_bits(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", unsigned(bits, 32)))[0])


def f64_from_bits(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", unsigned(bits, 64)))[0])


def v128_from_lanes(low: int, high: int) -> bytes:
    """16 bytes whose i64x2 lanes are ``low`` and ``high`` (little endian)."""
    return struct.pack("<QQ", unsigned(low, 64), unsigned(high, 64))


def lanes_of_v128(data: bytes) -> Tuple[int, int]:
    """The two i64x2 lanes of ``data``, signed."""
    low, high = struct.unpack("<qq", bytes(data))
    return int(low), int(high)


def same_float(a: float, b: float) -> bool:
    """Equal bit for bit (so NaN == NaN with the same payload, 0.0 != -0.0)."""
    return f64_bits(a) == f64_bits(b)


def is_nan_bits(bits: int, width: int) -> bool:
    if width == 32:
        return (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF != 0
    return (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1) != 0


# Types -----------------------------------------------------------------------


def valtype(kind: str) -> wasmtime.ValType:
    """A ``wasmtime.ValType`` for ``kind`` (wasmtime-py has no v128 ValType)."""
    makers = {
        "i32": wasmtime.ValType.i32,
        "i64": wasmtime.ValType.i64,
        "f32": wasmtime.ValType.f32,
        "f64": wasmtime.ValType.f64,
        "funcref": wasmtime.ValType.funcref,
        "externref": wasmtime.ValType.externref,
    }
    if kind not in makers:
        raise ValueError(f"wasmtime-py cannot build a ValType for {kind!r}")
    return makers[kind]()


def functype(params: Iterable[str], results: Iterable[str]) -> wasmtime.FuncType:
    return wasmtime.FuncType([valtype(k) for k in params], [valtype(k) for k in results])


# WAT ---------------------------------------------------------------------------


def _list(word: str, kinds: Sequence[str]) -> str:
    return f" ({word} {' '.join(kinds)})" if kinds else ""


def import_wat(params: Sequence[str], results: Sequence[str], module: str = "host", name: str = "f") -> str:
    """``(import "module" "name" (func $f ...))``."""
    return f'(import "{module}" "{name}" (func $f{_list("param", params)}{_list("result", results)}))'


def forwarding_wat(
    params: Sequence[str],
    results: Sequence[str],
    *,
    carriers: bool = True,
    module: str = "host",
    name: str = "f",
    export: str = "run",
    extra: str = "",
) -> str:
    """A module importing ``module.name`` and exporting ``export`` that forwards to it.

    ``export`` takes the import's parameters (or their carriers), calls the
    import and returns its results (or their carriers).  ``extra`` is added
    to the module body (memories, tables, more functions...).
    """
    if carriers:
        outer_params = [c for k in params for c in CARRIERS[k]]
        outer_results = [c for k in results for c in CARRIERS[k]]
    else:
        outer_params, outer_results = list(params), list(results)
    body: List[str] = []
    index = 0
    for kind in params:
        if carriers and kind == "v128":
            body += [f"local.get {index}", "i64x2.splat", f"local.get {index + 1}", "i64x2.replace_lane 1"]
            index += 2
            continue
        body.append(f"local.get {index}")
        if carriers:
            body += _FROM_CARRIER.get(kind, ())
        index += 1
    body.append("call $f")
    first_local = len(outer_params)
    for position in reversed(range(len(results))):
        body.append(f"local.set {first_local + position}")
    for position, kind in enumerate(results):
        slot = first_local + position
        if carriers and kind == "v128":
            body += [f"local.get {slot}", "i64x2.extract_lane 0", f"local.get {slot}", "i64x2.extract_lane 1"]
            continue
        body.append(f"local.get {slot}")
        if carriers:
            body += _TO_CARRIER.get(kind, ())
    locals_ = _list("local", results)
    lines = "\n      ".join(body)
    return f"""(module
  {import_wat(params, results, module, name)}
  (func (export "{export}"){_list("param", outer_params)}{_list("result", outer_results)}{locals_}
      {lines})
  {extra})"""


# Values through carriers ---------------------------------------------------------


def to_carriers(kinds: Sequence[str], values: Sequence[Any]) -> List[Any]:
    """Python values -> the arguments of a ``carriers=True`` export.

    f32/f64 values may be floats or ``Bits(n)`` to pass an exact pattern
    (a Python float cannot hold an f32 signalling NaN); v128 values are 16
    bytes.
    """
    out: List[Any] = []
    for kind, value in zip(kinds, values, strict=True):
        if kind == "f32":
            bits = value.bits if isinstance(value, Bits) else f32_bits(value)
            out.append(signed(bits, 32))
        elif kind == "f64":
            bits = value.bits if isinstance(value, Bits) else f64_bits(value)
            out.append(signed(bits, 64))
        elif kind == "v128":
            out.extend(lanes_of_v128(value))
        elif kind in ("i32", "i64"):
            out.append(signed(value, 32 if kind == "i32" else 64))
        else:
            out.append(value)
    return out


def from_carriers(kinds: Sequence[str], values: Sequence[Any]) -> List[Any]:
    """Results of a ``carriers=True`` export -> per-kind values.

    Integers come back signed, f32/f64 as their *unsigned bit patterns*,
    v128 as 16 bytes, references as they are.
    """
    values = list(values)
    out: List[Any] = []
    position = 0
    for kind in kinds:
        if kind == "v128":
            out.append(v128_from_lanes(values[position], values[position + 1]))
            position += 2
            continue
        value = values[position]
        position += 1
        if kind == "f32":
            out.append(unsigned(value, 32))
        elif kind == "f64":
            out.append(unsigned(value, 64))
        else:
            out.append(value)
    if position != len(values):
        raise ValueError(f"{len(values)} carrier values for {len(kinds)} kinds")
    return out


class Bits:
    """An exact f32/f64 bit pattern for :func:`to_carriers`."""

    __slots__ = ("bits",)

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def __repr__(self) -> str:
        return f"Bits({self.bits:#x})"


def as_list(value: Any, count: int) -> List[Any]:
    """Normalise what wasmtime-py's ``Func.__call__`` returns to a list of ``count`` values."""
    if count == 0:
        assert value is None, value
        return []
    if count == 1:
        return [value]
    return list(value)


# Instantiation ---------------------------------------------------------------


def instantiate(store: wasmtime.Store, wat: str, imports: Sequence[Any] = ()) -> Dict[str, Any]:
    """Compile ``wat`` and instantiate it; return its exports as a dict."""
    module = wasmtime.Module(store.engine, wat)
    instance = wasmtime.Instance(store, module, list(imports))
    exports = instance.exports(store)
    return {name: exports[name] for name in [e.name for e in module.exports]}


# Typed calls ---------------------------------------------------------------------

#: One engine shared by the typed-call tests, so compiled modules can be reused.
ENGINE = wasmtime.Engine()
_COMPILED: "weakref.WeakKeyDictionary[wasmtime.Engine, Dict[str, wasmtime.Module]]" = weakref.WeakKeyDictionary()


def instance_exports(wat: str, imports: Any = (), store: Any = None) -> Tuple[wasmtime.Store, Any]:
    """A store (new on :data:`ENGINE` unless given) and the exports of ``wat`` in it.

    Modules are compiled once per engine.
    """
    if store is None:
        store = wasmtime.Store(ENGINE)
    modules = _COMPILED.setdefault(store.engine, {})
    module = modules.get(wat)
    if module is None:
        module = modules[wat] = wasmtime.Module(store.engine, wat)
    instance = wasmtime.Instance(store, module, list(imports))
    return store, instance.exports(store)


def typed_on(store: wasmtime.Store, func: Any, backend: str, **kwargs: Any) -> Any:
    """``wasmjit.typed`` forcing ``backend`` (reflect also through ``dynamic_code=False``)."""
    if backend == "reflect":
        kwargs.setdefault("dynamic_code", False)
    typed = wasmjit.typed(store, func, backend=backend, **kwargs)
    assert typed.backend == backend
    return typed


def available_backends() -> Tuple[str, ...]:
    """The wasmjit backends this interpreter allows, in order (no bytecode before CPython 3.11)."""
    return tuple(name for name, why in wasmjit.probe().items() if why is None)
