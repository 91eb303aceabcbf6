"""Every wasm value kind through a wasmjit callback, as parameter and as result.

Each test instantiates a real module whose export ``run`` calls the host
import with its own parameters and returns the import's results (see
``wasm_helpers.forwarding_wat``).  With carriers, floats cross ``run`` as
their bit patterns, so what the *callback* received and what *wasm* received
from it are checked bit for bit.
"""

import gc
import math
import struct
from typing import Any, List

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasm_helpers import (
    CARRIERS,
    F32_MAX,
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    U32_MAX,
    U64_MAX,
    Bits,
    as_list,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    forwarding_wat,
    from_carriers,
    functype,
    instantiate,
    signed,
    to_carriers,
)

import wasmjit
from wasmjit import externref, f32, f64, funcref, i32, i64


def forward(store: wasmtime.Store, params: List[str], results: List[str], callback: Any, backend: str, **kw: Any):
    """Register ``callback``, instantiate a forwarding module; return ``run(*values) -> list``."""
    host = wasmjit.Function.from_callback(store, callback, backend=backend, **kw)
    assert host.backend == backend
    run = instantiate(store, forwarding_wat(params, results), [host])["run"]
    carrier_count = sum(len(CARRIERS[kind]) for kind in results)

    def call(*values: Any) -> List[Any]:
        out = run(store, *to_carriers(params, values))
        if not results:
            assert out is None
            return []
        return from_carriers(results, as_list(out, carrier_count))

    call.host = host  # type: ignore[attr-defined]
    return call


# Integers --------------------------------------------------------------------

I32_PARAMS = [0, 1, -1, I32_MIN, I32_MAX, I32_MIN + 1, 0x1234_5678]
I64_PARAMS = [0, 1, -1, I64_MIN, I64_MAX, I32_MIN, I32_MAX, U32_MAX, -0x1234_5678_9ABC_DEF0]


def test_i32_parameters_arrive_signed_and_round_trip(store, backend):
    seen: List[int] = []

    def cb(x: i32) -> i32:
        seen.append(x)
        return x

    call = forward(store, ["i32"], ["i32"], cb, backend)
    for value in I32_PARAMS:
        assert call(value) == [value]
    assert seen == I32_PARAMS
    assert all(type(v) is int for v in seen)


def test_i64_parameters_arrive_signed_and_round_trip(store, backend):
    seen: List[int] = []

    def cb(x: i64) -> i64:
        seen.append(x)
        return x

    call = forward(store, ["i64"], ["i64"], cb, backend)
    for value in I64_PARAMS:
        assert call(value) == [signed(value, 64)]
    assert seen == [signed(v, 64) for v in I64_PARAMS]


def test_unsigned_bit_patterns_from_wasm_arrive_signed(store, backend):
    seen: List[Any] = []

    def cb(a: i32, b: i64) -> None:
        seen.append((a, b))

    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    wat = """(module (import "host" "f" (func $f (param i32 i64)))
      (func (export "run") (call $f (i32.const 0xFFFFFFFF) (i64.const 0xFFFFFFFFFFFFFFFF))
                            (call $f (i32.const 0x80000000) (i64.const 0x8000000000000000))))"""
    instantiate(store, wat, [host])["run"](store)
    assert seen == [(-1, -1), (I32_MIN, I64_MIN)]


# (returned value, what wasm sees)
I32_RESULTS = [
    (0, 0),
    (1, 1),
    (-1, -1),
    (I32_MIN, I32_MIN),
    (I32_MAX, I32_MAX),
    (U32_MAX, -1),
    (0x8000_0000, I32_MIN),
    (0xFFFF_FFFE, -2),
    (True, 1),
    (False, 0),
]
I64_RESULTS = [
    (0, 0),
    (-1, -1),
    (I64_MIN, I64_MIN),
    (I64_MAX, I64_MAX),
    (U64_MAX, -1),
    (1 << 63, I64_MIN),
    (U32_MAX, U32_MAX),
    (True, 1),
]


@pytest.mark.parametrize(("kind", "cases"), [("i32", I32_RESULTS), ("i64", I64_RESULTS)])
def test_integer_results_accept_signed_and_unsigned_range(store, backend, kind, cases):
    queue = [returned for returned, _ in cases]
    marker = i32 if kind == "i32" else i64

    def cb() -> marker:  # type: ignore[valid-type]
        return queue.pop(0)

    call = forward(store, [], [kind], cb, backend)
    assert [call()[0] for _ in cases] == [seen for _, seen in cases]


class Index:
    """An int-like object (``__index__``) that is not an int."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_integer_results_accept_index_objects(store, backend):
    queue = [Index(7), Index(U32_MAX), Index(-5)]

    def cb() -> i32:
        return queue.pop(0)

    call = forward(store, [], ["i32"], cb, backend)
    assert [call()[0] for _ in range(3)] == [7, -1, -5]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("i32", U32_MAX + 1),
        ("i32", I32_MIN - 1),
        ("i32", 1 << 40),
        ("i32", -(1 << 100)),
        ("i64", U64_MAX + 1),
        ("i64", I64_MIN - 1),
        ("i64", 1 << 200),
    ],
)
def test_out_of_range_integer_result_raises_overflow_error(store, backend, kind, value):
    marker = i32 if kind == "i32" else i64

    def out_of_range() -> marker:  # type: ignore[valid-type]
        return value

    call = forward(store, [], [kind], out_of_range, backend)
    with pytest.raises(OverflowError) as info:
        call()
    assert "out_of_range" in str(info.value)
    assert "result 0" in str(info.value)
    # The function keeps working, and nothing stays parked.
    value = 5
    assert call() == [5]


def test_out_of_range_result_overflow_from_typed_outer_call(store, backend):
    def too_big(x: i32) -> tuple[i32, i64]:
        return x, U64_MAX + x

    host = wasmjit.Function.from_callback(store, too_big, backend=backend)
    run = instantiate(store, forwarding_wat(["i32"], ["i32", "i64"], carriers=False), [host])["run"]
    typed = wasmjit.typed(store, run)
    assert typed(0) == (0, -1)
    with pytest.raises(OverflowError, match="result 1 of"):
        typed(1)
    with pytest.raises(OverflowError, match="result 1 of"):
        run(store, 1)


# f64 -------------------------------------------------------------------------

F64_PATTERNS = [
    0x0000_0000_0000_0000,  # +0.0
    0x8000_0000_0000_0000,  # -0.0
    0x3FF0_0000_0000_0000,  # 1.0
    0x7FF0_0000_0000_0000,  # +inf
    0xFFF0_0000_0000_0000,  # -inf
    0x0000_0000_0000_0001,  # smallest subnormal
    0x000F_FFFF_FFFF_FFFF,  # largest subnormal
    0x8000_0000_0000_0001,  # negative subnormal
    0x7FEF_FFFF_FFFF_FFFF,  # largest finite
    0x7FF8_0000_0000_0000,  # canonical quiet NaN
    0xFFF8_0000_0000_0000,  # negative quiet NaN
    0x7FF8_0000_0000_0123,  # quiet NaN with payload
    0xFFFA_BCDE_F012_3456,  # negative quiet NaN with payload
    0x7FF0_0000_0000_0001,  # signalling NaN
    0x7FF4_0000_DEAD_BEEF,  # signalling NaN with payload
]


def test_f64_parameters_and_results_preserve_bit_patterns(store, backend):
    seen: List[int] = []

    def cb(x: f64) -> f64:
        seen.append(f64_bits(x))
        return x

    call = forward(store, ["f64"], ["f64"], cb, backend)
    for bits in F64_PATTERNS:
        assert call(Bits(bits)) == [bits], hex(bits)
    assert seen == F64_PATTERNS


def test_f64_results_built_from_bits_reach_wasm_exactly(store, backend):
    queue = [f64_from_bits(bits) for bits in F64_PATTERNS]

    def cb() -> f64:
        return queue.pop(0)

    call = forward(store, [], ["f64"], cb, backend)
    assert [call()[0] for _ in F64_PATTERNS] == F64_PATTERNS


def test_f64_results_accept_ints_and_reject_non_numbers(store, backend):
    queue: List[Any] = [3, -(2**53), True, 10**400, "1.0", None]

    def cb() -> f64:
        return queue.pop(0)

    call = forward(store, [], ["f64"], cb, backend)
    assert call() == [f64_bits(3.0)]
    assert call() == [f64_bits(-(2.0**53))]
    assert call() == [f64_bits(1.0)]
    with pytest.raises(OverflowError):
        call()
    with pytest.raises(TypeError, match="result 0"):
        call()
    with pytest.raises(TypeError, match="result 0"):
        call()


# f32 -------------------------------------------------------------------------

# Python floats cannot hold an f32 *signalling* NaN (widening f32 to double
# quiets it on every common FPU), so only quiet NaNs are checked for f32.
F32_PATTERNS = [
    0x0000_0000,
    0x8000_0000,
    0x3F80_0000,  # 1.0
    0x7F80_0000,
    0xFF80_0000,
    0x0000_0001,  # smallest subnormal
    0x007F_FFFF,  # largest subnormal
    0x8000_0001,
    0x7F7F_FFFF,  # largest finite
    0x7FC0_0000,
    0xFFC0_0000,
    0x7FC0_0123,
    0xFFEA_BCDE,
]


def test_f32_parameters_and_results_preserve_bit_patterns(store, backend):
    seen: List[int] = []

    def cb(x: f32) -> f32:
        seen.append(f32_bits(x))
        return x

    call = forward(store, ["f32"], ["f32"], cb, backend)
    for bits in F32_PATTERNS:
        assert call(Bits(bits)) == [bits], hex(bits)
    assert seen == F32_PATTERNS


def demoter(store: wasmtime.Store):
    """``f32.demote_f64`` computed by wasm itself: the reference for f32 rounding."""
    wat = """(module (func (export "demote") (param i64) (result i32)
        local.get 0 f64.reinterpret_i64 f32.demote_f64 i32.reinterpret_f32))"""
    demote = instantiate(store, wat)["demote"]
    return lambda value: demote(store, signed(f64_bits(value), 64)) & 0xFFFF_FFFF


ROUNDING = [
    0.1,
    1 / 3,
    -2.5e-3,
    16777217.0,  # 2**24 + 1 rounds to even
    1e-46,  # below the smallest subnormal: rounds to 0
    1.5e-45,  # rounds to the smallest subnormal
    F32_MAX,
    F32_MAX + 2.0**102,  # below half an ulp: rounds to F32_MAX
    F32_MAX + 2.0**103,  # exactly half an ulp: ties to even, i.e. to infinity
    -(F32_MAX + 2.0**103),
    1e39,
    1e300,
    -1e300,
    math.inf,
    -math.inf,
    5e-324,
    -0.0,
]


def test_f32_results_round_like_wasm_demote(store, backend):
    demote = demoter(store)
    queue = list(ROUNDING)

    def cb() -> f32:
        return queue.pop(0)

    call = forward(store, [], ["f32"], cb, backend)
    got = [call()[0] for _ in ROUNDING]
    assert [hex(b) for b in got] == [hex(demote(v)) for v in ROUNDING]
    assert got[10:12] == [0x7F80_0000, 0x7F80_0000]  # huge values round to +inf
    assert got[12] == 0xFF80_0000


def test_f32_result_nan_stays_nan(store, backend):
    def cb() -> f32:
        return math.nan

    (bits,) = forward(store, [], ["f32"], cb, backend)()
    assert math.isnan(f32_from_bits(bits))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.floats(allow_nan=False) | st.integers(min_value=-(2**80), max_value=2**80))
def test_f32_rounding_matches_wasm_for_any_number(backend, value):
    store = wasmtime.Store()
    demote = demoter(store)

    def cb() -> f32:
        return value

    (bits,) = forward(store, [], ["f32"], cb, backend)()
    assert bits == demote(float(value))


# References ------------------------------------------------------------------


def constant_func(store: wasmtime.Store, value: int) -> wasmtime.Func:
    return wasmtime.Func(store, functype([], ["i32"]), lambda: value)


def test_funcref_parameters_and_results(store, backend):
    seen: List[Any] = []
    five, seven = constant_func(store, 5), constant_func(store, 7)

    def cb(f: funcref, g: funcref) -> tuple[funcref, funcref]:
        seen.append((f, g))
        return g, f

    call = forward(store, ["funcref", "funcref"], ["funcref", "funcref"], cb, backend)
    first, second = call(five, seven)
    assert (first(store), second(store)) == (7, 5)
    assert call(None, five)[1] is None
    assert call(None, None) == [None, None]
    (f, g), (h, k), (m, n) = seen
    assert isinstance(f, wasmtime.Func) and isinstance(g, wasmtime.Func)
    assert (f(store), g(store), h, k(store), m, n) == (5, 7, None, 5, None, None)


def test_funcref_result_can_be_a_wasmjit_function(store, backend):
    def double(x: i32) -> i32:
        return 2 * x

    target = wasmjit.Function.from_callback(store, double, backend=backend)

    def cb() -> funcref:
        return target

    (got,) = forward(store, [], ["funcref"], cb, backend)()
    assert got(store, 21) == 42


def test_funcref_result_from_another_store_is_rejected(store, backend):
    foreign = constant_func(wasmtime.Store(store.engine), 1)

    def cb() -> funcref:
        return foreign

    call = forward(store, [], ["funcref"], cb, backend)
    with pytest.raises(ValueError, match="another store"):
        call()


def test_funcref_result_of_wrong_type_is_a_type_error(store, backend):
    def cb() -> funcref:
        return 3

    with pytest.raises(TypeError, match="result 0"):
        forward(store, [], ["funcref"], cb, backend)()


class Thing:
    pass


EXTERNREF_VALUES = [Thing(), "text", 0, False, 42, (), [1, 2], {"a": 1}, 1.5, b"", Thing]


def test_externref_parameters_and_results_keep_identity(store, backend):
    seen: List[Any] = []

    def cb(x: externref) -> externref:
        seen.append(x)
        return x

    call = forward(store, ["externref"], ["externref"], cb, backend)
    for value in [*EXTERNREF_VALUES, None]:
        (out,) = call(value)
        assert out is value
    assert all(a is b for a, b in zip(seen, [*EXTERNREF_VALUES, None], strict=True))


def test_externref_results_created_by_the_callback_survive(store, backend):
    """Fresh objects returned as externrefs (only wasm refers to them) stay alive."""
    kinds = ["externref"] * 8

    def cb() -> tuple[externref, externref, externref, externref, externref, externref, externref, externref]:
        gc.collect()
        return (*(Thing() for _ in range(7)), [n * 3 for n in range(100)])  # type: ignore[return-value]

    call = forward(store, [], kinds, cb, backend)
    for _ in range(5):
        got = call()
        gc.collect()
        assert all(type(v) is Thing for v in got[:7])
        assert got[7] == [n * 3 for n in range(100)]


# v128 -------------------------------------------------------------------------
# v128 values are exercised in test_callbacks_v128.py: they run in subprocesses.


# Mixed ------------------------------------------------------------------------


def test_mixed_signature_with_every_scalar_and_reference_kind(store, backend):
    params = ["i32", "i64", "f32", "f64", "funcref", "externref"]
    results = ["externref", "funcref", "f64", "f32", "i64", "i32"]
    token = Thing()
    func = constant_func(store, 9)

    def cb(a: i32, b: i64, c: f32, d: f64, e: funcref, f: externref) -> tuple[externref, funcref, f64, f32, i64, i32]:
        return f, e, d, c, b, a

    call = forward(store, params, results, cb, backend)
    out = call(-7, I64_MIN, 1.5, Bits(0x7FF8_0000_0000_0042), func, token)
    assert out[0] is token
    assert out[1](store) == 9
    assert out[2:] == [0x7FF8_0000_0000_0042, f32_bits(1.5), I64_MIN, -7]


def test_struct_pack_agrees_on_f64_payload_nan():
    # Guard for the assumption the f64 tests make: Python keeps the payload.
    nan = f64_from_bits(0x7FF4_0000_DEAD_BEEF)
    assert struct.pack("<d", nan) == struct.pack("<Q", 0x7FF4_0000_DEAD_BEEF)
