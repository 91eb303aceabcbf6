"""Typed calls: how values cross, kind by kind, at their boundaries.

Integers are checked against the signed-or-unsigned range, floats keep their
bit patterns (f64) or round like C (f32), references keep their identity and
v128 is exactly 16 bytes.  Every value is checked from the wasm side too
(``reinterpret``, ``lt_s``, ``ref.is_null``), not only by a round trip.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import struct
import subprocess
import sys
import textwrap
import weakref
from typing import Any, Tuple

import pytest
import wasmtime
from wasm_helpers import instance_exports, typed_on

import wasmjit

instantiate = instance_exports
make = typed_on


def f64_of(pattern: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", pattern))[0]


def pattern_of(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def signed64(pattern: int) -> int:
    return pattern - (1 << 64) if pattern >= 1 << 63 else pattern


def signed32(pattern: int) -> int:
    return pattern - (1 << 32) if pattern >= 1 << 31 else pattern


def f32_pattern_of(value: float) -> int:
    """The single-precision bit pattern C gives ``(float)value``."""
    return int.from_bytes(bytes(ctypes.c_float(value)), "little")


VALUES = """
(module
  (func (export "i32_id") (param i32) (result i32) (local.get 0))
  (func (export "i64_id") (param i64) (result i64) (local.get 0))
  (func (export "f32_id") (param f32) (result f32) (local.get 0))
  (func (export "f64_id") (param f64) (result f64) (local.get 0))
  (func (export "i32_is_minus_one") (param i32) (result i32) (i32.eq (local.get 0) (i32.const -1)))
  (func (export "i32_lt_zero") (param i32) (result i32) (i32.lt_s (local.get 0) (i32.const 0)))
  (func (export "i64_is_minus_one") (param i64) (result i32) (i64.eq (local.get 0) (i64.const -1)))
  (func (export "i64_lt_zero") (param i64) (result i32) (i64.lt_s (local.get 0) (i64.const 0)))
  (func (export "i32_const") (param i32) (result i32)
    (select (i32.const 0x7fffffff) (i32.const 0x80000000) (local.get 0)))
  (func (export "i64_const") (param i32) (result i64)
    (select (i64.const 0x7fffffffffffffff) (i64.const 0x8000000000000000) (local.get 0)))
  (func (export "f64_bits") (param f64) (result i64) (i64.reinterpret_f64 (local.get 0)))
  (func (export "f64_from_bits") (param i64) (result f64) (f64.reinterpret_i64 (local.get 0)))
  (func (export "f32_bits") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
  (func (export "f32_from_bits") (param i32) (result f32) (f32.reinterpret_i32 (local.get 0)))
  (func (export "f64_pair_bits") (param f64 f64) (result i64 i64)
    (i64.reinterpret_f64 (local.get 0)) (i64.reinterpret_f64 (local.get 1)))
  (func (export "f64_pair_from_bits") (param i64 i64) (result f64 f64)
    (f64.reinterpret_i64 (local.get 0)) (f64.reinterpret_i64 (local.get 1)))
  (func (export "three") (param i32 i64 f64) (result i32) (i32.const 0))
  (func (export "floats") (param f32 f64) (result f64)
    (f64.add (f64.promote_f32 (local.get 0)) (local.get 1)))

  (table $ext 1 externref)
  (func (export "ext_id") (param externref) (result externref) (local.get 0))
  (func (export "ext_is_null") (param externref) (result i32) (ref.is_null (local.get 0)))
  (func (export "ext_null") (result externref) (ref.null extern))
  (func (export "ext_stash") (param externref) (table.set $ext (i32.const 0) (local.get 0)))
  (func (export "ext_fetch") (result externref) (table.get $ext (i32.const 0)))
  (func (export "ext_swap") (param externref externref i32) (result externref externref i32)
    (local.get 1) (local.get 0) (local.get 2))

  (type $un (func (param i32) (result i32)))
  (table $fn 2 funcref)
  (elem (table $fn) (i32.const 0) func $double $negate)
  (func $double (export "double") (type $un) (i32.mul (local.get 0) (i32.const 2)))
  (func $negate (export "negate") (type $un) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "func_id") (param funcref) (result funcref) (local.get 0))
  (func (export "func_is_null") (param funcref) (result i32) (ref.is_null (local.get 0)))
  (func (export "func_null") (result funcref) (ref.null func))
  (func (export "func_at") (param i32) (result funcref) (table.get $fn (local.get 0)))
  (func (export "func_apply") (param funcref i32) (result i32)
    (table.set $fn (i32.const 1) (local.get 0))
    (call_indirect $fn (type $un) (local.get 1) (i32.const 1)))

  (func (export "everything") (param i32 i64 f32 f64 externref funcref)
                              (result funcref externref f64 f32 i64 i32)
    (local.get 5) (local.get 4) (local.get 3) (local.get 2) (local.get 1) (local.get 0))
)
"""


@pytest.fixture
def vals() -> Tuple[wasmtime.Store, Any]:
    return instantiate(VALUES)


# Integers ---------------------------------------------------------------------------

I32_IN = [
    (-(2**31), -(2**31)),
    (-1, -1),
    (0, 0),
    (1, 1),
    (2**31 - 1, 2**31 - 1),
    (2**31, -(2**31)),
    (2**32 - 2, -2),
    (2**32 - 1, -1),
    (True, 1),
    (False, 0),
]
I64_IN = [
    (-(2**63), -(2**63)),
    (-1, -1),
    (0, 0),
    (2**63 - 1, 2**63 - 1),
    (2**63, -(2**63)),
    (2**64 - 1, -1),
    (2**32, 2**32),
    (True, 1),
]


def test_i32_accepts_signed_and_unsigned_range(backend: str, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex["i32_id"], backend)
    for value, seen in I32_IN:
        result = ident(value)
        assert result == seen and type(result) is int, value
        assert ex["i32_id"](store, value) == seen
    lt_zero = make(store, ex["i32_lt_zero"], backend)
    is_minus_one = make(store, ex["i32_is_minus_one"], backend)
    # The unsigned spelling of -1 is -1 to wasm.
    assert is_minus_one(0xFFFFFFFF) == 1
    assert is_minus_one(-1) == 1
    assert is_minus_one(0x7FFFFFFF) == 0
    assert lt_zero(0x80000000) == 1
    assert lt_zero(0x7FFFFFFF) == 0


def test_i64_accepts_signed_and_unsigned_range(backend: str, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex["i64_id"], backend)
    for value, seen in I64_IN:
        result = ident(value)
        assert result == seen and type(result) is int, value
    assert make(store, ex["i64_is_minus_one"], backend)(2**64 - 1) == 1
    assert make(store, ex["i64_lt_zero"], backend)(2**63) == 1
    assert make(store, ex["i64_lt_zero"], backend)(2**63 - 1) == 0


def test_integer_results_come_back_signed(backend: str, vals: Any) -> None:
    store, ex = vals
    assert make(store, ex["i32_const"], backend)(1) == 2**31 - 1
    assert make(store, ex["i32_const"], backend)(0) == -(2**31)
    assert make(store, ex["i64_const"], backend)(1) == 2**63 - 1
    assert make(store, ex["i64_const"], backend)(0) == -(2**63)


@pytest.mark.parametrize(
    ("export", "value"),
    [
        ("i32_id", 2**32),
        ("i32_id", -(2**31) - 1),
        ("i32_id", 2**100),
        ("i32_id", -(2**100)),
        ("i64_id", 2**64),
        ("i64_id", -(2**63) - 1),
        ("i64_id", 2**200),
    ],
)
def test_integers_outside_both_ranges_overflow(backend: str, export: str, value: int, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex[export], backend, name=export)
    with pytest.raises(OverflowError, match=f"argument 0 of {export}"):
        ident(value)
    # The function is still usable afterwards.
    assert ident(7) == 7


class Index:
    """An int-like object (``__index__`` only)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_objects_with_index_are_integers(backend: str, vals: Any) -> None:
    store, ex = vals
    assert make(store, ex["i32_id"], backend)(Index(-5)) == -5
    assert make(store, ex["i32_id"], backend)(Index(2**32 - 1)) == -1
    assert make(store, ex["i64_id"], backend)(Index(2**63)) == -(2**63)
    with pytest.raises(OverflowError):
        make(store, ex["i64_id"], backend)(Index(2**64))


# Wrong kinds and counts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "bad"),
    [
        (0, "1"),
        (0, None),
        (0, 1.0),
        (0, 1.5),
        (0, b"\x01"),
        (0, [1]),
        (1, "1"),
        (1, None),
        (1, 2.0),
        (1, object()),
        (2, "1.0"),
        (2, None),
        (2, b"12345678"),
        (2, 1j),
        (2, object()),
    ],
)
def test_wrong_kind_is_a_type_error_naming_the_position(backend: str, position: int, bad: Any, vals: Any) -> None:
    store, ex = vals
    three = make(store, ex["three"], backend, name="three")
    args = [1, 2, 3.0]
    args[position] = bad
    with pytest.raises(TypeError, match=f"argument {position} of three"):
        three(*args)
    assert three(1, 2, 3.0) == 0


def test_default_name_still_names_the_position(backend: str, vals: Any) -> None:
    store, ex = vals
    three = make(store, ex["three"], backend)
    with pytest.raises(TypeError, match="argument 1"):
        three(1, "x", 1.0)


# Floats ---------------------------------------------------------------------------------

F64_PATTERNS = [
    0x0000000000000000,  # +0
    0x8000000000000000,  # -0
    0x3FF0000000000000,  # 1.0
    0xBFF8000000000000,  # -1.5
    0x7FF0000000000000,  # +inf
    0xFFF0000000000000,  # -inf
    0x7FF8000000000000,  # canonical quiet NaN
    0xFFF8000000000000,  # negative quiet NaN
    0x7FF8000000000001,  # quiet NaN, low payload
    0x7FFDEADBEEF12345,  # quiet NaN, payload
    0xFFFCAFEBABE00001,  # negative quiet NaN, payload
    0x7FF0000000000001,  # signalling NaN
    0x7FF4000000000000,  # signalling NaN, high payload
    0x0000000000000001,  # smallest subnormal
    0x800FFFFFFFFFFFFF,  # largest negative subnormal
    0x0010000000000000,  # smallest normal
    0x7FEFFFFFFFFFFFFF,  # largest finite
    0xFFEFFFFFFFFFFFFF,  # most negative finite
]


def test_f64_bit_patterns_cross_unchanged_in_both_directions(backend: str, vals: Any) -> None:
    store, ex = vals
    to_bits = make(store, ex["f64_bits"], backend)
    from_bits = make(store, ex["f64_from_bits"], backend)
    ident = make(store, ex["f64_id"], backend)
    pair_bits = make(store, ex["f64_pair_bits"], backend)
    pair_from_bits = make(store, ex["f64_pair_from_bits"], backend)
    for pattern in F64_PATTERNS:
        value = f64_of(pattern)
        # Python -> wasm: wasm sees exactly these bits.
        assert to_bits(value) == signed64(pattern), hex(pattern)
        # wasm -> Python: Python gets exactly these bits.
        result = from_bits(signed64(pattern))
        assert type(result) is float
        assert pattern_of(result) == pattern, hex(pattern)
        # Through a plain f64 identity.
        assert pattern_of(ident(value)) == pattern, hex(pattern)
        # Several results: each slot keeps its own bits.
        other = F64_PATTERNS[(F64_PATTERNS.index(pattern) + 1) % len(F64_PATTERNS)]
        assert pair_bits(value, f64_of(other)) == (signed64(pattern), signed64(other))
        back = pair_from_bits(signed64(other), signed64(pattern))
        assert (pattern_of(back[0]), pattern_of(back[1])) == (other, pattern)


def test_f64_accepts_ints_and_float_likes(backend: str, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex["f64_id"], backend)
    assert ident(3) == 3.0 and type(ident(3)) is float
    assert ident(-(2**53) - 1) == float(-(2**53) - 1)
    assert ident(2**1000) == float(2**1000)
    assert ident(True) == 1.0
    from fractions import Fraction

    assert ident(Fraction(1, 4)) == 0.25
    assert pattern_of(ident(-0.0)) == 0x8000000000000000


def test_ints_too_large_for_a_float_overflow(backend: str, vals: Any) -> None:
    store, ex = vals
    for export in ("f64_id", "f32_id"):
        ident = make(store, ex[export], backend)
        with pytest.raises(OverflowError):
            ident(2**1100)
        assert ident(2.0) == 2.0


FLT_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
F32_INPUTS = [
    0.0,
    -0.0,
    1.0,
    0.1,
    1 / 3,
    -2.5,
    16777217.0,  # 2**24 + 1: rounds to even
    FLT_MAX,
    FLT_MAX + 2.0**102,  # below the halfway point: rounds down to FLT_MAX
    FLT_MAX + 2.0**103,  # the halfway point: ties to even, i.e. infinity
    -(FLT_MAX + 2.0**103),
    1e39,
    -1e300,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    2.0**-149,  # smallest f32 subnormal
    2.0**-150,  # half of it: ties to even, i.e. zero
    1.5 * 2.0**-150,  # rounds up to the smallest subnormal
    -(2.0**-149),
    1e-50,  # underflows to +0
    -1e-50,  # underflows to -0
    2.0**-126,  # smallest f32 normal
    5e-324,
]


def test_f32_arguments_round_like_c(backend: str, vals: Any) -> None:
    store, ex = vals
    to_bits = make(store, ex["f32_bits"], backend)
    ident = make(store, ex["f32_id"], backend)
    stock_bits = ex["f32_bits"]
    for value in F32_INPUTS:
        expected = f32_pattern_of(value)
        assert to_bits(value) & 0xFFFFFFFF == expected, value
        assert stock_bits(store, value) & 0xFFFFFFFF == expected, value
        result = ident(value)
        assert type(result) is float
        assert pattern_of(result) == pattern_of(ctypes.c_float(value).value), value
    # ints are accepted for f32 as well.
    assert ident(3) == 3.0
    assert ident(16777217) == 16777216.0
    assert ident(-(2**200)) == -math.inf


F32_PATTERNS = [
    0x00000000,
    0x80000000,
    0x3F800000,
    0x7F7FFFFF,
    0xFF7FFFFF,
    0x7F800000,
    0xFF800000,
    0x00000001,
    0x807FFFFF,
    0x00800000,
    0x7FC00000,  # quiet NaN
    0xFFC00000,
    0x7FC12345,  # quiet NaN with payload
]


def test_f32_results_are_exact_doubles_of_the_single(backend: str, vals: Any) -> None:
    store, ex = vals
    from_bits = make(store, ex["f32_from_bits"], backend)
    to_bits = make(store, ex["f32_bits"], backend)
    for pattern in F32_PATTERNS:
        result = from_bits(signed32(pattern))
        assert type(result) is float
        expected = struct.unpack("<f", struct.pack("<I", pattern))[0]
        assert pattern_of(result) == pattern_of(expected), hex(pattern)
        # ... and it goes back to wasm as the same single.
        assert to_bits(result) & 0xFFFFFFFF == pattern, hex(pattern)


def test_f32_and_f64_nan_arguments_stay_nan(backend: str, vals: Any) -> None:
    store, ex = vals
    floats = make(store, ex["floats"], backend)
    assert math.isnan(floats(math.nan, 1.0))
    assert math.isnan(floats(1.0, math.nan))
    assert floats(0.5, 0.25) == 0.75
    assert floats(1e39, 1.0) == math.inf


# References -------------------------------------------------------------------------------


class Thing:
    pass


def test_externref_identity_and_null(backend: str, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex["ext_id"], backend)
    is_null = make(store, ex["ext_is_null"], backend)
    null = make(store, ex["ext_null"], backend)
    nan = math.nan
    objects = [Thing(), object(), "text", b"bytes", 0, False, 0.0, "", (), [], {}, 2**100, nan, Thing]
    for obj in objects:
        assert ident(obj) is obj, obj
        # Falsy objects are values, not null.
        assert is_null(obj) == 0, obj
    assert ident(None) is None
    assert is_null(None) == 1
    assert null() is None


def test_externref_kept_by_wasm_stays_alive_and_identical(backend: str, vals: Any) -> None:
    store, ex = vals
    stash = make(store, ex["ext_stash"], backend)
    fetch = make(store, ex["ext_fetch"], backend)
    thing = Thing()
    ref = weakref.ref(thing)
    stash(thing)
    del thing
    gc.collect()
    store.gc()
    assert ref() is not None
    assert fetch() is ref()
    stash(None)
    assert fetch() is None


def _survivors(store: wasmtime.Store, call: Any, count: int = 200) -> int:
    """How many of ``count`` objects passed through ``call`` outlive a GC of Python and the store."""
    refs = []
    for _ in range(count):
        thing = Thing()
        refs.append(weakref.ref(thing))
        call(thing)
        del thing
    gc.collect()
    store.gc()
    gc.collect()
    return sum(ref() is not None for ref in refs)


@pytest.mark.parametrize("export", ["ext_id", "ext_is_null"])
def test_externref_arguments_are_released_like_stock_calls(backend: str, export: str, vals: Any) -> None:
    store, ex = vals
    stock = ex[export]
    # The control: stock calls let the store's GC drop every object.
    assert _survivors(store, lambda thing: stock(store, thing)) == 0
    typed = make(store, ex[export], backend)
    assert _survivors(store, typed) == 0


def test_several_externref_results(backend: str, vals: Any) -> None:
    store, ex = vals
    swap = make(store, ex["ext_swap"], backend)
    a, b = Thing(), Thing()
    out = swap(a, b, 0xFFFFFFFF)
    assert out[0] is b and out[1] is a and out[2] == -1
    out = swap(None, a, 1)
    assert out[0] is a and out[1] is None and out[2] == 1
    # A failure after the first externref was encoded: nothing is left rooted.
    with pytest.raises(OverflowError):
        swap(a, b, 2**40)
    with pytest.raises(TypeError):
        swap(a, b, "x")
    assert swap(a, b, 2) == (b, a, 2)


def test_funcref_arguments_and_results(backend: str, vals: Any) -> None:
    store, ex = vals
    ident = make(store, ex["func_id"], backend)
    is_null = make(store, ex["func_is_null"], backend)
    null = make(store, ex["func_null"], backend)
    at = make(store, ex["func_at"], backend)
    apply = make(store, ex["func_apply"], backend)
    double, negate = ex["double"], ex["negate"]
    assert is_null(None) == 1
    assert is_null(double) == 0
    assert null() is None
    assert ident(None) is None
    back = ident(double)
    assert isinstance(back, wasmtime.Func)
    assert make(store, back, backend)(21) == 42
    assert back(store, 4) == 8
    from_table = at(1)
    assert isinstance(from_table, wasmtime.Func)
    assert make(store, from_table, backend)(5) == -5
    # wasm calls the function it was given.
    assert apply(double, 7) == 14
    assert apply(negate, 7) == -7
    assert apply(from_table, 3) == -3
    host = wasmjit.Function.from_callback(store, lambda x: x + 1000, type=double.type(store))
    assert apply(host, 1) == 1001
    stock = wasmtime.Func(store, double.type(store), lambda x: x - 1000)
    assert apply(stock, 1) == -999


@pytest.mark.parametrize("bad", [1, "double", object(), Thing, 0.0])
def test_funcref_of_wrong_kind_is_a_type_error(backend: str, bad: Any, vals: Any) -> None:
    store, ex = vals
    is_null = make(store, ex["func_is_null"], backend, name="is_null")
    with pytest.raises(TypeError, match="argument 0 of is_null"):
        is_null(bad)
    assert is_null(None) == 1


def test_every_kind_in_one_signature(backend: str, vals: Any) -> None:
    store, ex = vals
    everything = make(store, ex["everything"], backend)
    thing = Thing()
    double = ex["double"]
    out = everything(2**32 - 1, 2**64 - 1, 0.1, -0.0, thing, double)
    assert type(out) is tuple and len(out) == 6
    func, ext, f64v, f32v, i64v, i32v = out
    assert make(store, func, backend)(3) == 6
    assert ext is thing
    assert pattern_of(f64v) == 0x8000000000000000
    assert f32v == ctypes.c_float(0.1).value
    assert (i64v, i32v) == (-1, -1)
    stock = ex["everything"](store, 2**32 - 1, 2**64 - 1, 0.1, -0.0, thing, double)
    assert stock[1:] == [thing, -0.0, ctypes.c_float(0.1).value, -1, -1]
    out = everything(0, 0, 0.0, 0.0, None, None)
    assert out == (None, None, 0.0, 0.0, 0, 0)


# v128 -------------------------------------------------------------------------------------
#
# Run in a child process: reading a v128 function's type goes through
# wasmtime's C API, and a failure there aborts the process instead of
# raising.  Each child must exit 0 after printing "OK".

V128_SCRIPT = """
import sys
import wasmtime
import wasmjit

backend = sys.argv[1]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''
(module
  (func (export "id") (param v128) (result v128) (local.get 0))
  (func (export "add") (param v128 v128) (result v128 i32)
    (i8x16.add (local.get 0) (local.get 1)) (i32.const 7))
  (func (export "lane") (param v128) (result i64 i64)
    (i64x2.extract_lane 0 (local.get 0)) (i64x2.extract_lane 1 (local.get 0)))
  (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0)))
)''')
ex = wasmtime.Instance(store, module, []).exports(store)
kw = {"dynamic_code": False} if backend == "reflect" else {}
ident = wasmjit.typed(store, ex["id"], backend=backend, name="id", **kw)
add = wasmjit.typed(store, ex["add"], backend=backend, **kw)
lane = wasmjit.typed(store, ex["lane"], backend=backend, **kw)
splat = wasmjit.typed(store, ex["splat"], backend=backend, **kw)
assert ident.backend == backend

data = bytes(range(16))
out = ident(data)
assert type(out) is bytes and out == data, out
assert ident(bytearray(b"\\xff" * 16)) == b"\\xff" * 16
assert ident(memoryview(bytes(16))) == bytes(16)
assert add(bytes([250] * 16), data) == (bytes((250 + i) % 256 for i in range(16)), 7)
assert lane(data) == (int.from_bytes(data[:8], "little"), int.from_bytes(data[8:], "little"))
assert lane(b"\\xff" * 16) == (-1, -1)
assert splat(-2) == b"\\xfe\\xff\\xff\\xff" * 4
for bad, error in [(b"x" * 15, ValueError), (b"x" * 17, ValueError), (b"", ValueError),
                   ("x" * 16, TypeError), (None, TypeError), (16, TypeError), ([0] * 16, TypeError)]:
    try:
        ident(bad)
    except error as exc:
        assert "argument 0 of id" in str(exc), exc
    else:
        raise AssertionError(f"no error for {bad!r}")
assert ident(data) == data
print("OK")
"""


def test_v128_arguments_and_results(backend: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(V128_SCRIPT), backend],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONFAULTHANDLER": "0"},
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", (
        f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
    )


UNSUPPORTED_SCRIPT = """
import sys
import wasmtime
import wasmjit

# Typed references need these proposals; wasmtime < 47 leaves them off by default.
config = wasmtime.Config()
config.wasm_function_references = True
config.wasm_gc = True
store = wasmtime.Store(wasmtime.Engine(config))
module = wasmtime.Module(store.engine, sys.argv[1])
func = wasmtime.Instance(store, module, []).exports(store)["f"]
try:
    wasmjit.typed(store, func)
except TypeError as exc:
    print("TypeError:", exc)
else:
    print("accepted")
"""


@pytest.mark.parametrize(
    "wat",
    [
        '(module (func (export "f") (param (ref func))))',
        '(module (func (export "f") (param (ref extern))))',
        '(module (func (export "f") (result (ref null noextern)) (ref.null noextern)))',
    ],
    ids=["ref-func", "ref-extern", "ref-null-noextern"],
)
def test_unsupported_reference_types_are_a_type_error_not_an_abort(wat: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(UNSUPPORTED_SCRIPT), wat],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("TypeError:"), proc.stdout


def _wide_module(kinds: "list[str]") -> str:
    body = " ".join(f"(local.get {index})" for index in reversed(range(len(kinds))))
    return f"""
    (module
      (func (export "wide") (param {" ".join(kinds)}) (result {" ".join(reversed(kinds))}) {body})
      (func (export "plus3") (param i32) (result i32) (i32.add (local.get 0) (i32.const 3))))
    """


WIDE_KINDS = ["i32", "i64", "f32", "f64", "externref", "funcref"] * 7  # 42 parameters and results


def test_many_parameters_and_results_of_every_kind(backend: str) -> None:
    store, ex = instantiate(_wide_module(WIDE_KINDS))
    wide = make(store, ex["wide"], backend)
    plus3 = ex["plus3"]
    things = [Thing() for _ in WIDE_KINDS]

    def value(kind: str, index: int) -> Any:
        return {
            "i32": 2**32 - 1 - index,
            "i64": -(2**63) + index,
            "f32": index + 0.5,
            "f64": index / 3,
            "externref": things[index],
            "funcref": plus3,
        }[kind]

    args = [value(kind, index) for index, kind in enumerate(WIDE_KINDS)]
    for _ in range(20):
        out = wide(*args)
        assert type(out) is tuple and len(out) == len(WIDE_KINDS)
        for got, arg, kind in zip(out, reversed(args), reversed(WIDE_KINDS), strict=True):
            if kind == "externref":
                assert got is arg
            elif kind == "funcref":
                assert make(store, got, backend)(4) == 7
            elif kind == "i32":
                assert got == signed32(arg)
            elif kind == "i64":
                assert got == arg
            else:
                assert got == arg
    stock = ex["wide"](store, *args)
    assert [v for v, k in zip(stock, reversed(WIDE_KINDS), strict=True) if k not in ("funcref",)] == [
        v for v, k in zip(wide(*args), reversed(WIDE_KINDS), strict=True) if k not in ("funcref",)
    ]
