"""Typed calls (``wasmjit.typed``): result shapes, what may be called, ``signature=``,
backend selection, positional-only arguments and differential agreement with stock wasmtime-py.

Every test runs real WAT modules on real wasmtime; nothing is mocked.
"""

from __future__ import annotations

import collections.abc
import gc
import math
import struct
import sys
from typing import Any, Callable, Tuple

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasm_helpers import ENGINE, forwarding_wat, instance_exports, typed_on

import wasmjit
from wasmjit import externref, f32, f64, funcref, i32, i64
from wasmjit.boundary.lifetimes import live_owners

instantiate = instance_exports
make = typed_on


def bits(value: Any) -> Any:
    """A comparable form of a wasm value: floats by their bit pattern."""
    if isinstance(value, float):
        return ("f64-bits", struct.pack("<d", value))
    if isinstance(value, (list, tuple)):
        return tuple(bits(v) for v in value)
    return value


SHAPES = """
(module
  (global $g (mut i32) (i32.const 0))
  (func (export "set") (param i32) (global.set $g (local.get 0)))
  (func (export "get") (result i32) (global.get $g))
  (func (export "nothing"))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1))
    (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "three") (param i64 f64) (result f64 i64 i32)
    (local.get 1) (local.get 0) (i32.const 7))
  (func (export "const42") (result i64) (i64.const 42))
  (func (export "many") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.add (i32.add (i32.add (i32.add (i32.add (i32.add (i32.add (i32.add (i32.add
      (local.get 0) (i32.mul (local.get 1) (i32.const 2)))
      (i32.mul (local.get 2) (i32.const 4))) (i32.mul (local.get 3) (i32.const 8)))
      (i32.mul (local.get 4) (i32.const 16))) (i32.mul (local.get 5) (i32.const 32)))
      (i32.mul (local.get 6) (i32.const 64))) (i32.mul (local.get 7) (i32.const 128)))
      (i32.mul (local.get 8) (i32.const 256))) (i32.mul (local.get 9) (i32.const 512))))
)
"""


# 1. Results -----------------------------------------------------------------------


def test_no_results_return_none_and_the_call_happens(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    set_ = make(store, ex["set"], backend)
    get = make(store, ex["get"], backend)
    nothing = make(store, ex["nothing"], backend)
    assert set_(1234) is None
    assert get() == 1234
    assert ex["get"](store) == 1234
    assert set_(-5) is None
    assert get() == -5
    assert nothing() is None


def test_one_result_is_the_bare_value(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    add = make(store, ex["add"], backend)
    result = add(40, 2)
    assert result == 42 and type(result) is int
    const = make(store, ex["const42"], backend)
    assert const() == 42 and type(const()) is int


def test_several_results_are_a_tuple(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    divmod_ = make(store, ex["divmod"], backend)
    result = divmod_(47, 5)
    assert type(result) is tuple
    assert result == (9, 2)
    three = make(store, ex["three"], backend)
    out = three(-(2**63), -0.5)
    assert type(out) is tuple and len(out) == 3
    assert out == (-0.5, -(2**63), 7)
    assert type(out[0]) is float and type(out[1]) is int


def test_many_parameters(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    many = make(store, ex["many"], backend)
    assert many(1, 1, 1, 1, 1, 1, 1, 1, 1, 1) == 1023
    assert many(0, 0, 0, 0, 0, 0, 0, 0, 0, 1) == 512
    assert many(5, 0, 0, 0, 0, 0, 0, 0, 0, 0) == 5
    assert many(*range(10)) == ex["many"](store, *range(10))


HOST_USER = """
(module
  (import "" "f" (func $f (param i32 i64) (result i64)))
  (func (export "use") (param i32 i64) (result i64) (call $f (local.get 0) (local.get 1)))
)
"""


def test_wasmjit_function_host_functions_can_be_typed(backend: str) -> None:
    store = wasmtime.Store(ENGINE)
    seen = []

    def none(a: i32) -> None:
        seen.append(a)

    def one(a: i32, b: i64) -> i64:
        return a * b

    def several(a: f64, b: i32) -> Tuple[i32, f64, i64]:
        return b + 1, a * 2, -b

    for callback in (none, one, several):
        host = wasmjit.Function.from_callback(store, callback)
        assert isinstance(host, wasmtime.Func)
        typed = make(store, host, backend)
        if callback is none:
            assert typed(-9) is None
            assert seen == [-9]
        elif callback is one:
            assert typed(-3, 2**40) == -3 * 2**40
        else:
            assert typed(1.25, 10) == (11, 2.5, -10)
    # ... and the same Function can still be imported and called from wasm.
    host = wasmjit.Function.from_callback(store, one)
    _, ex = instantiate(HOST_USER, [host], store)
    assert make(store, ex["use"], backend)(6, 7) == 42


def test_stock_wasmtime_func_host_functions_can_be_typed(backend: str) -> None:
    store = wasmtime.Store(ENGINE)
    I32, I64, F64 = wasmtime.ValType.i32(), wasmtime.ValType.i64(), wasmtime.ValType.f64()
    calls = []
    none = wasmtime.Func(store, wasmtime.FuncType([I32], []), lambda a: calls.append(a))
    one = wasmtime.Func(store, wasmtime.FuncType([I32, I64], [I64]), lambda a, b: a - b)
    several = wasmtime.Func(store, wasmtime.FuncType([F64], [F64, I32]), lambda x: [x / 2, 3])
    assert make(store, none, backend)(77) is None
    assert calls == [77]
    assert make(store, one, backend)(1, 2**62) == 1 - 2**62
    assert make(store, several, backend)(5.0) == (2.5, 3)
    _, ex = instantiate(HOST_USER, [one], store)
    assert make(store, ex["use"], backend)(10, 4) == 6


TABLE = """
(module
  (type $bin (func (param i32 i32) (result i32)))
  (table $t (export "table") 4 funcref)
  (elem (i32.const 0) $add $sub $pair)
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $pair (param i64) (result i64 i64) (local.get 0) (i64.mul (local.get 0) (local.get 0)))
  (func (export "pick") (param i32) (result funcref) (table.get $t (local.get 0)))
)
"""


def test_funcrefs_taken_from_a_table(backend: str) -> None:
    store, ex = instantiate(TABLE)
    table = ex["table"]
    add_ref = table.get(store, 0)
    sub_ref = table.get(store, 1)
    pair_ref = table.get(store, 2)
    assert isinstance(add_ref, wasmtime.Func)
    assert make(store, add_ref, backend)(5, 3) == 8
    assert make(store, sub_ref, backend)(5, 3) == 2
    assert make(store, pair_ref, backend)(-12) == (-12, 144)
    # A funcref returned by a typed call is itself callable through typed().
    pick = make(store, ex["pick"], backend)
    picked = pick(1)
    assert isinstance(picked, wasmtime.Func)
    assert make(store, picked, backend)(10, 4) == 6
    assert pick(3) is None


POSITIONAL = """
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "three") (param i32 i64 f64) (result i32) (i32.const 0)))
"""


def test_typed_calls_take_positional_arguments_only(backend: str) -> None:
    """Typed callers are ``def f(a0, a1, /, *extra)``: wrong counts and keywords are TypeErrors naming them.

    (tests/test_fuzz_differential.py holds every backend's messages to the oracle's, which are CPython's.)
    """
    store, ex = instantiate(POSITIONAL)
    named = make(store, ex["add"], backend, name="add")
    assert named(1, 2) == 3
    with pytest.raises(TypeError, match=r"^add\(\) takes 2 positional arguments but 3 were given$"):
        named(1, 2, 3)
    for args, keywords in (((1,), {"a1": 2}), ((1,), {"b": 2}), ((), {"a0": 1, "a1": 2})):
        with pytest.raises(TypeError):
            named(*args, **keywords)
    assert named(5, 2) == 7
    three = make(store, ex["three"], backend)
    for args in [(), (1,), (1, 2), (1, 2, 3.0, 4)]:
        with pytest.raises(TypeError) as info:
            three(*args)
        # The message names the function it came from, for every backend alike.
        assert three.__name__ in str(info.value)
    with pytest.raises(TypeError):
        three(1, 2, 3.0, extra=1)
    assert three(1, 2, 3.0) == 0


def test_typed_call_keeps_its_store_alive(backend: str) -> None:
    """Dropping every other reference (the store, the instance, the wasmtime.Func): the typed call still works."""

    def build() -> Any:
        store = wasmtime.Store()
        host = wasmjit.Function.from_callback(
            store, lambda x: x + 100, type=wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
        )
        _, ex = instantiate(forwarding_wat(["i32"], ["i32"], carriers=False), [host], store)
        return make(store, ex["run"], backend)

    g = build()
    gc.collect()
    assert g(1) == 101
    baseline = live_owners()
    del g
    gc.collect()
    assert live_owners() == baseline - 1  # the host function went with the store


# 2. signature= -----------------------------------------------------------------------


def test_signature_matching_is_accepted() -> None:
    store, ex = instantiate(SHAPES)
    add = wasmjit.typed(store, ex["add"], Callable[[i32, i32], i32])
    assert add(1, 2) == 3
    add2 = wasmjit.typed(store, ex["add"], signature=collections.abc.Callable[[i32, i32], i32])
    assert add2(3, 4) == 7
    # Plain int is i32, float is f64.
    assert wasmjit.typed(store, ex["add"], Callable[[int, int], int])(1, 1) == 2
    assert wasmjit.typed(store, ex["set"], Callable[[i32], None])(3) is None
    assert wasmjit.typed(store, ex["nothing"], Callable[[], None])() is None
    divmod_ = wasmjit.typed(store, ex["divmod"], Callable[[i32, i32], Tuple[i32, i32]])
    assert divmod_(7, 2) == (3, 1)
    three = wasmjit.typed(store, ex["three"], Callable[[i64, float], tuple[f64, i64, i32]])
    assert three(1, 2.0) == (2.0, 1, 7)


@pytest.mark.parametrize(
    "declared",
    [
        Callable[[i32, i64], i32],  # parameter kind
        Callable[[i32], i32],  # too few parameters
        Callable[[i32, i32, i32], i32],  # too many parameters
        Callable[[i32, i32], i64],  # result kind
        Callable[[i32, i32], f32],
        Callable[[i32, i32], None],  # missing result
        Callable[[i32, i32], Tuple[i32, i32]],  # extra result
        Callable[[f64, f64], f64],
        Callable[[externref, funcref], i32],
    ],
)
def test_signature_mismatch_raises_type_error_at_creation(declared: Any) -> None:
    store, ex = instantiate(SHAPES)
    with pytest.raises(TypeError, match="signature"):
        wasmjit.typed(store, ex["add"], declared)


def test_signature_mismatch_on_results_of_multi_value_function() -> None:
    store, ex = instantiate(SHAPES)
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["divmod"], Callable[[i32, i32], i32])
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["divmod"], Callable[[i32, i32], Tuple[i32, i64]])
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["nothing"], Callable[[], i32])


@pytest.mark.parametrize(
    "declared",
    [Callable[..., i32], collections.abc.Callable[..., i32]],
    ids=["typing", "collections.abc"],
)
def test_signature_with_ellipsis_is_rejected(declared: Any) -> None:
    store, ex = instantiate(SHAPES)
    with pytest.raises(TypeError, match="parameter"):
        wasmjit.typed(store, ex["add"], declared)


@pytest.mark.parametrize("declared", [Callable, collections.abc.Callable], ids=["typing", "collections.abc"])
def test_signature_bare_callable_without_arguments_is_a_type_error(declared: Any) -> None:
    # An unsubscripted Callable states no parameter list either: same TypeError
    # as Callable[..., X], not an internal unpacking error.
    store, ex = instantiate(SHAPES)
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["add"], declared)


@pytest.mark.parametrize("declared", [int, "Callable[[i32, i32], i32]", (i32, i32), Callable[[i32, str], i32]])
def test_signature_that_is_not_a_callable_of_wasm_types_is_rejected(declared: Any) -> None:
    store, ex = instantiate(SHAPES)
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["add"], declared)


# 4. Backends ----------------------------------------------------------------------


def test_all_three_backends_are_available_on_the_cpythons_bytecode_targets() -> None:
    from wasmjit.backends.bytecode import SUPPORTED

    if sys.implementation.name != "cpython" or sys.version_info[:2] not in SUPPORTED:
        pytest.skip("the bytecode backend targets CPython 3.11-3.15")
    assert wasmjit.probe() == {"bytecode": None, "source": None, "reflect": None}


def test_backend_is_reported(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    typed = wasmjit.typed(store, ex["add"], backend=backend)
    assert typed.backend == backend
    assert typed(2, 2) == 4
    assert isinstance(typed, wasmjit.TypedFunc)
    assert typed.signature == wasmjit.Signature((wasmjit.Kind.I32, wasmjit.Kind.I32), (wasmjit.Kind.I32,))


def test_dynamic_code_false_forces_reflect_and_true_forces_generated_code() -> None:
    store, ex = instantiate(SHAPES)
    assert wasmjit.typed(store, ex["add"], dynamic_code=False).backend == "reflect"
    assert wasmjit.typed(store, ex["add"], dynamic_code=True).backend in ("bytecode", "source")
    assert wasmjit.typed(store, ex["add"], dynamic_code=False)(1, 2) == 3


def test_invalid_backend_choices_are_rejected() -> None:
    store, ex = instantiate(SHAPES)
    with pytest.raises(ValueError):
        wasmjit.typed(store, ex["add"], backend="jit")
    with pytest.raises(ValueError):
        wasmjit.typed(store, ex["add"], backend="bytecode", dynamic_code=False)
    with pytest.raises(ValueError):
        wasmjit.typed(store, ex["add"], backend="source", dynamic_code=False)
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["add"], dynamic_code="yes")


def test_same_signature_is_generated_once(backend: str) -> None:
    store, ex = instantiate(SHAPES)
    make(store, ex["add"], backend)
    before = wasmjit.generation_count()
    second = make(store, ex["add"], backend)
    assert wasmjit.generation_count() == before
    assert second(20, 22) == 42


def test_each_typed_function_is_bound_to_its_own_func_and_store(backend: str) -> None:
    store_a, ex_a = instantiate(SHAPES)
    store_b, ex_b = instantiate(SHAPES)
    set_a, get_a = make(store_a, ex_a["set"], backend), make(store_a, ex_a["get"], backend)
    set_b, get_b = make(store_b, ex_b["set"], backend), make(store_b, ex_b["get"], backend)
    set_a(1)
    set_b(2)
    assert (get_a(), get_b()) == (1, 2)
    add = make(store_a, ex_a["add"], backend)
    divmod_ = make(store_a, ex_a["divmod"], backend)
    assert add(1, 1) == 2 and divmod_(9, 4) == (2, 1)


# 4. Differential agreement with stock calls -----------------------------------------

DIFF = """
(module
  (func (export "mix") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    (local.get 3) (local.get 2) (local.get 1) (local.get 0))
  (func (export "arith") (param i32 i32 i64 i64) (result i32 i32 i64 i64 i32)
    (i32.add (local.get 0) (local.get 1))
    (i32.mul (local.get 0) (local.get 1))
    (i64.sub (local.get 2) (local.get 3))
    (i64.xor (local.get 2) (local.get 3))
    (i32.lt_u (local.get 0) (local.get 1)))
  (func (export "float") (param f32 f64) (result f64 f32 f64 i32)
    (f64.add (f64.promote_f32 (local.get 0)) (local.get 1))
    (f32.demote_f64 (local.get 1))
    (f64.sqrt (local.get 1))
    (f64.lt (local.get 1) (f64.const 0)))
  (func (export "bits") (param f64 f32) (result i64 i32)
    (i64.reinterpret_f64 (local.get 0)) (i32.reinterpret_f32 (local.get 1)))
  (func (export "refs") (param externref funcref i32) (result i32 funcref externref)
    (i32.add (ref.is_null (local.get 0)) (i32.mul (ref.is_null (local.get 1)) (i32.const 2)))
    (local.get 1) (local.get 0))
  (func (export "noop") (param i32))
  (func (export "plus1") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "plus2") (param i32) (result i32) (i32.add (local.get 0) (i32.const 2)))
)
"""

I32 = st.integers(-(2**31), 2**32 - 1)
I64 = st.integers(-(2**63), 2**64 - 1)
F64 = st.floats(allow_nan=True, allow_infinity=True)
F32 = st.floats(allow_nan=True, allow_infinity=True)  # rounded to single precision


def _agree(store: wasmtime.Store, stock: wasmtime.Func, typed: Any, args: Tuple[Any, ...]) -> None:
    expected = stock(store, *args)
    got = typed(*args)
    if isinstance(expected, list):
        assert type(got) is tuple
        expected = tuple(expected)
    assert bits(got) == bits(expected), (args, got, expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_differential_agreement_with_stock_calls(backend: str, data: st.DataObject) -> None:
    store, ex = instantiate(DIFF)
    mix = make(store, ex["mix"], backend)
    arith = make(store, ex["arith"], backend)
    float_ = make(store, ex["float"], backend)
    bits_ = make(store, ex["bits"], backend)
    _agree(store, ex["mix"], mix, (data.draw(I32), data.draw(I64), data.draw(F32), data.draw(F64)))
    _agree(store, ex["arith"], arith, (data.draw(I32), data.draw(I32), data.draw(I64), data.draw(I64)))
    _agree(store, ex["float"], float_, (data.draw(F32), data.draw(F64)))
    _agree(store, ex["bits"], bits_, (data.draw(F64), data.draw(F32)))


def test_differential_agreement_with_stock_calls_on_reference_values(backend: str) -> None:
    store, ex = instantiate(DIFF)
    refs = make(store, ex["refs"], backend)
    noop = make(store, ex["noop"], backend)
    objects = [object(), "text", 0, None, [1, 2], 2**100]
    funcs = [None, ex["plus1"], ex["plus2"]]
    for obj in objects:
        for func in funcs:
            expected = ex["refs"](store, obj, func, 5)
            got = refs(obj, func, 5)
            assert type(got) is tuple and len(got) == 3
            assert got[0] == expected[0]
            assert got[2] is expected[2] is obj
            if func is None:
                assert got[1] is None and expected[1] is None
            else:
                # Different Python wrappers of the same wasm function: call both.
                assert make(store, got[1], backend)(10) == func(store, 10) == expected[1](store, 10)
    assert noop(1) is None and ex["noop"](store, 1) is None


def test_differential_on_fixed_interesting_values(backend: str) -> None:
    store, ex = instantiate(DIFF)
    mix = make(store, ex["mix"], backend)
    float_ = make(store, ex["float"], backend)
    ints32 = [-(2**31), -1, 0, 1, 2**31 - 1, 2**31, 2**32 - 1]
    ints64 = [-(2**63), -1, 0, 1, 2**63 - 1, 2**63, 2**64 - 1]
    floats = [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308, 1e-40, 1e39]
    for a, b, c in zip(ints32, ints64, floats, strict=False):
        for d in floats:
            _agree(store, ex["mix"], mix, (a, b, c, d))
            _agree(store, ex["float"], float_, (c, d))
