"""Backends: forcing one, agreement between them and with stock wasmtime-py,
template caching and tracebacks through generated code (``explain``: test_explain.py)."""

import linecache
import math
import sys
import traceback
from typing import Any, List

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st
from wasm_helpers import (
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    available_backends,
    f64_bits,
    forwarding_wat,
    functype,
    instantiate,
)

import wasmjit
from wasmjit import externref, f32, f64, i32, i64

BACKENDS = available_backends()


def add(a: i32, b: i32) -> i32:
    return a + b


ADD_WAT = forwarding_wat(["i32", "i32"], ["i32"], carriers=False)


# Choosing a backend ------------------------------------------------------------


def test_each_backend_can_be_forced(store, backend):
    host = wasmjit.Function.from_callback(store, add, backend=backend)
    assert host.backend == backend
    assert host._prepared.owner.backend == backend
    assert backend in repr(host)
    assert instantiate(store, ADD_WAT, [host])["run"](store, 2, 3) == 5


def test_dynamic_code_false_means_reflect(store):
    assert wasmjit.Function.from_callback(store, add, dynamic_code=False).backend == "reflect"
    assert wasmjit.Function.from_callback(store, add, dynamic_code=False, backend="reflect").backend == "reflect"


def test_dynamic_code_true_means_generated_code(store):
    host = wasmjit.Function.from_callback(store, add, dynamic_code=True)
    assert host.backend in ("bytecode", "source")
    if sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython":
        assert host.backend == "bytecode"


def test_default_prefers_bytecode_then_source(store):
    if wasmjit.get_dynamic_code() is not None:
        pytest.skip("WASMJIT_DYNAMIC_CODE is set for this process")
    available = [name for name, why in wasmjit.probe().items() if why is None]
    assert wasmjit.Function.from_callback(store, add).backend == available[0]


def test_generating_backend_with_dynamic_code_false_is_rejected(store):
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, add, backend="source", dynamic_code=False)
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, add, backend="bytecode", dynamic_code=False)


@pytest.mark.parametrize("bad", ["jit", "Bytecode", ""])
def test_unknown_backend_is_rejected(store, bad):
    with pytest.raises(ValueError, match="backend"):
        wasmjit.Function.from_callback(store, add, backend=bad)


def test_bad_dynamic_code_value_is_rejected(store):
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, add, dynamic_code="yes")  # type: ignore[arg-type]


def test_set_dynamic_code_changes_the_default(store):
    previous = wasmjit.get_dynamic_code()
    try:
        wasmjit.set_dynamic_code(False)
        assert wasmjit.get_dynamic_code() is False
        assert wasmjit.Function.from_callback(store, add).backend == "reflect"
        # an explicit argument still wins
        assert wasmjit.Function.from_callback(store, add, dynamic_code=True).backend != "reflect"
        assert wasmjit.Function.from_callback(store, add, backend="source").backend == "source"
        wasmjit.set_dynamic_code(True)
        assert wasmjit.Function.from_callback(store, add).backend != "reflect"
        with pytest.raises(TypeError):
            wasmjit.set_dynamic_code("no")  # type: ignore[arg-type]
    finally:
        wasmjit.set_dynamic_code(previous)
    assert wasmjit.get_dynamic_code() is previous


def test_probe_reports_every_backend():
    result = wasmjit.probe()
    assert set(result) == {"bytecode", "source", "reflect"}
    assert result["reflect"] is None
    assert result["source"] is None  # this interpreter allows compile()/exec()
    result["reflect"] = "mutated"
    assert wasmjit.probe()["reflect"] is None  # a copy


# Differential: every backend and stock wasmtime-py agree -------------------------

DIFF_PARAMS = ["i32", "i64", "f32", "f64", "externref"]
DIFF_RESULTS = ["f64", "i32", "i64", "f32", "externref", "i32"]
DIFF_WAT = forwarding_wat(DIFF_PARAMS, DIFF_RESULTS, carriers=False)


def mix(a, b, c, d, e):
    """Plain Python arithmetic used by every implementation under comparison."""
    return (
        d * 2.0 + a,
        (a * 7) & 0xFFFF_FFFF if a >= 0 else a // 3,
        b ^ 0x5555,
        c * 3.0,
        e,
        len(repr(type(e).__name__)),
    )


def mix_annotated(a: i32, b: i64, c: f32, d: f64, e: externref) -> tuple[f64, i32, i64, f32, externref, i32]:
    return mix(a, b, c, d, e)


def implementations(store: wasmtime.Store) -> dict:
    # "stock" must really be wasmtime-py's own trampoline, not wasmjit.install()'s.
    assert not getattr(wasmjit, "installed", lambda: False)()
    ty = functype(DIFF_PARAMS, DIFF_RESULTS)
    hosts = {"stock": wasmtime.Func(store, ty, lambda *args: list(mix(*args)))}
    for name in BACKENDS:
        hosts[name] = wasmjit.Function.from_callback(store, mix_annotated, backend=name)
        hosts[name + "+type="] = wasmjit.Function.from_callback(store, mix, type=ty, backend=name)
    return {name: instantiate(store, DIFF_WAT, [host])["run"] for name, host in hosts.items()}


def comparable(values: List[Any]) -> List[Any]:
    return [f64_bits(v) if isinstance(v, float) else (id(v) if isinstance(v, Token) else v) for v in values]


class Token:
    pass


TOKEN = Token()

floats = st.floats(width=32, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    a=st.integers(I32_MIN, I32_MAX),
    b=st.integers(I64_MIN, I64_MAX),
    c=floats,
    d=st.floats(),
    e=st.sampled_from([None, TOKEN, "text", 0]),
)
def test_backends_and_stock_agree(a, b, c, d, e):
    store = wasmtime.Store()
    runs = implementations(store)
    outcomes = {}
    for name, run in runs.items():
        try:
            outcomes[name] = ("ok", comparable(run(store, a, b, c, d, e)))
        except Exception as exc:  # pragma: no cover - reported by the assertion
            outcomes[name] = ("error", type(exc).__name__)
        typed = wasmjit.typed(store, run)
        assert comparable(list(typed(a, b, c, d, e))) == outcomes[name][1], name
    reference = outcomes.pop("stock")
    assert reference[0] == "ok"
    for name, outcome in outcomes.items():
        assert outcome == reference, name


def test_backends_and_stock_agree_on_special_floats():
    store = wasmtime.Store()
    runs = implementations(store)
    specials = [0.0, -0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, math.nan]
    for d in specials:
        results = {name: comparable(run(store, 1, 2, 0.5, d, None)) for name, run in runs.items()}
        assert len({repr(v) for v in results.values()}) == 1, results


@pytest.mark.parametrize(
    "exception", [ValueError("diff"), KeyboardInterrupt(), SystemExit(2)], ids=lambda e: type(e).__name__
)
def test_backends_and_stock_raise_the_same_object(exception):
    store = wasmtime.Store()

    def boom(x: i32) -> i32:
        raise exception

    hosts = [wasmtime.Func(store, functype(["i32"], ["i32"]), boom)]
    hosts += [wasmjit.Function.from_callback(store, boom, backend=name) for name in BACKENDS]
    wat = forwarding_wat(["i32"], ["i32"], carriers=False)
    for host in hosts:
        run = instantiate(store, wat, [host])["run"]
        with pytest.raises(type(exception)) as info:
            run(store, 1)
        assert info.value is exception
        with pytest.raises(type(exception)) as info:
            wasmjit.typed(store, run)(1)
        assert info.value is exception


# Caching ---------------------------------------------------------------------------


def test_thousand_callables_of_one_signature_generate_once(store, backend):
    def make(k: int) -> Any:
        def offset(x: i32, y: f64) -> tuple[i32, f64]:
            return x + k, y * k

        return offset

    before = wasmjit.generation_count()
    hosts = [wasmjit.Function.from_callback(store, make(k), backend=backend) for k in range(1000)]
    after = wasmjit.generation_count()
    assert set(after) == set(before)
    for name in after:
        assert after[name] - before[name] <= (1 if name == backend else 0), (before, after)
    # Each registration is bound to its own callable.
    assert [hosts[k](store, 1, 2.0) for k in (0, 1, 500, 999)] == [[1, 0.0], [2, 2.0], [501, 1000.0], [1000, 1998.0]]
    # And registering 1000 more, another way, generates nothing either.
    ty = functype(["i32", "f64"], ["i32", "f64"])
    again = wasmjit.generation_count()
    more = [wasmjit.Function.from_callback(store, make(-k), type=ty, backend=backend) for k in range(1000)]
    assert wasmjit.generation_count() == again
    assert more[999](store, 0, 1.5) == [-999, -1498.5]


def test_new_signature_generates_a_template(store, backend):
    # A signature no other test uses: Caller + 13 parameters, a 1-tuple of f32.
    ty = functype(["f32", "externref", "i64"] * 4 + ["f32"], ["f32"])

    def thirteen(caller: wasmtime.Caller, *args: Any) -> tuple[f32]:
        return (args[0] + args[-1],)

    before = wasmjit.generation_count()
    host = wasmjit.Function.from_callback(store, thirteen, type=ty, backend=backend)
    after = wasmjit.generation_count()
    assert after[backend] == before[backend] + 1, (before, after)
    assert sum(after.values()) == sum(before.values()) + 1
    wasmjit.Function.from_callback(store, thirteen, type=ty, backend=backend)
    assert wasmjit.generation_count() == after
    args = [1.5, None, 0] * 4 + [2.0]
    assert host(store, *args) == 3.5


def test_generation_count_returns_a_copy():
    counts = wasmjit.generation_count()
    counts["bytecode"] = -100
    assert wasmjit.generation_count()["bytecode"] >= 0


# tracebacks ---------------------------------------------------------------------


@pytest.mark.parametrize("generated", ["source", "bytecode"])
def test_generated_trampoline_lines_are_in_linecache(store, generated):
    host = wasmjit.Function.from_callback(store, add, backend=generated)
    filename = host._prepared.owner.trampoline.__code__.co_filename
    assert filename.startswith("<wasmjit-")
    linecache.checkcache()  # must not evict generated entries
    lines = linecache.getlines(filename)
    assert lines
    assert any("callback(p0, p1)" in line for line in lines)


@pytest.mark.parametrize("generated", ["source", "bytecode"])
def test_traceback_through_a_trampoline_shows_generated_lines(store, generated):
    def fails(a: i32, b: i32) -> i32:
        raise ZeroDivisionError("inside the callback")

    host = wasmjit.Function.from_callback(store, fails, backend=generated)
    run = instantiate(store, ADD_WAT, [host])["run"]
    with pytest.raises(ZeroDivisionError) as info:
        run(store, 1, 2)
    text = "".join(traceback.format_exception(info.value))
    filename = host._prepared.owner.trampoline.__code__.co_filename
    assert f'File "{filename}"' in text
    assert "result = callback(p0, p1)" in text
    assert 'raise ZeroDivisionError("inside the callback")' in text
