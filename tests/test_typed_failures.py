"""Typed calls when things go wrong: traps, host exceptions, nesting and misuse.

(Re-entering the same typed call: tests/test_reliability_reentrancy.py;
exceptions on several threads at once: tests/test_reliability_threads.py.)

Traps must match stock wasmtime-py exactly (message, code, frames); an
exception raised by a host callback must come back as the very same object,
through any depth of nesting; misuse raises, it never crashes the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import traceback
from typing import Any, Callable, Dict, List, Tuple

import pytest
import wasmtime
import wasmtime._func as wasmtime_func
from wasm_helpers import ENGINE, instance_exports, typed_on

import wasmjit
from wasmjit import i32
from wasmjit.boundary import errors as wasmjit_errors

HOSTS = ("wasmjit", "stock")

instantiate = instance_exports
make = typed_on


VT = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f64": wasmtime.ValType.f64}


def host(store: wasmtime.Store, kind: str, callback: Callable[..., Any], params: str, results: str) -> wasmtime.Func:
    """A host function of the given wasm type: a wasmjit.Function or a stock wasmtime.Func."""
    ty = wasmtime.FuncType([VT[p]() for p in params.split()], [VT[r]() for r in results.split()])
    if kind == "wasmjit":
        return wasmjit.Function.from_callback(store, callback, type=ty)
    return wasmtime.Func(store, ty, callback)


def assert_no_pending_exception() -> None:
    assert wasmtime_func.LAST_EXCEPTION is None
    assert wasmjit_errors.take_pending() is None


@pytest.fixture(autouse=True)
def _clean_exception_slots() -> Any:
    wasmtime_func.LAST_EXCEPTION = None
    wasmjit_errors.take_pending()
    yield
    # Whatever a test did, nothing may stay parked afterwards.
    leftover = wasmtime_func.LAST_EXCEPTION
    wasmtime_func.LAST_EXCEPTION = None
    pending = wasmjit_errors.take_pending()
    assert leftover is None and pending is None, (leftover, pending)


# 5. Traps ------------------------------------------------------------------------------

TRAPS = """
(module
  (memory 1)
  (type $un (func (param i32) (result i32)))
  (table $t 2 funcref)
  (elem (i32.const 0) $inc)
  (func $inc (type $un) (i32.add (local.get 0) (i32.const 1)))
  (func $boom (export "unreachable") unreachable)
  (func $deeper (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then unreachable))
    (i32.add (i32.const 1) (call $deeper (i32.sub (local.get 0) (i32.const 1)))))
  (func (export "deep") (param i32) (result i32) (call $deeper (local.get 0)))
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_u64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect $t (type $un) (local.get 1) (local.get 0)))
  (func $rec (export "recurse") (param i32) (result i32)
    (i32.add (i32.const 1) (call $rec (i32.add (local.get 0) (i32.const 1)))))
  (func (export "multi_trap") (param i32) (result i32 i64 f64)
    (i32.div_u (i32.const 1) (local.get 0)) (i64.const 2) (f64.const 3))
)
"""

TRAP_CASES = [
    ("unreachable", (), wasmtime.TrapCode.UNREACHABLE),
    ("deep", (5,), wasmtime.TrapCode.UNREACHABLE),
    ("div_s", (1, 0), wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO),
    ("div_s", (-(2**31), -1), wasmtime.TrapCode.INTEGER_OVERFLOW),
    ("rem_u64", (5, 0), wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO),
    ("load", (65536,), wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS),
    ("load", (0xFFFFFFFF,), wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS),
    ("store64", (65533, 1), wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS),
    ("trunc", (float("nan"),), wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER),
    ("trunc", (1e10,), wasmtime.TrapCode.INTEGER_OVERFLOW),
    ("indirect", (1, 0), wasmtime.TrapCode.INDIRECT_CALL_TO_NULL),
    ("indirect", (5, 0), wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS),
    ("recurse", (0,), wasmtime.TrapCode.STACK_OVERFLOW),
    ("multi_trap", (0,), wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO),
]


def frames_of(trap: wasmtime.Trap) -> List[Tuple[Any, ...]]:
    return [(f.func_index, f.func_name, f.module_name, f.func_offset, f.module_offset) for f in trap.frames]


def stock_trap(store: wasmtime.Store, func: wasmtime.Func, args: Tuple[Any, ...]) -> wasmtime.Trap:
    with pytest.raises(wasmtime.Trap) as info:
        func(store, *args)
    return info.value


@pytest.mark.parametrize(("export", "args", "code"), TRAP_CASES, ids=[f"{c[0]}{c[1]}" for c in TRAP_CASES])
def test_traps_match_stock_calls(backend: str, export: str, args: Tuple[Any, ...], code: Any) -> None:
    store, ex = instantiate(TRAPS)
    typed = make(store, ex[export], backend)
    expected = stock_trap(store, ex[export], args)
    with pytest.raises(wasmtime.Trap) as info:
        typed(*args)
    trap = info.value
    assert type(trap) is wasmtime.Trap
    assert trap.trap_code == expected.trap_code == code
    assert trap.message == expected.message
    assert frames_of(trap) == frames_of(expected)
    assert len(trap.frames) >= 1
    assert_no_pending_exception()
    # The store is fine afterwards, and so is the typed function.
    assert make(store, ex["div_s"], backend)(7, 2) == 3
    with pytest.raises(wasmtime.Trap):
        typed(*args)


def test_trap_frames_name_the_functions(backend: str) -> None:
    store, ex = instantiate(TRAPS)
    deep = make(store, ex["deep"], backend)
    with pytest.raises(wasmtime.Trap) as info:
        deep(3)
    names = [frame.func_name for frame in info.value.frames]
    assert names[0] == "deeper"
    assert names.count("deeper") == 4
    assert deep.__name__  # still a usable function object afterwards


def test_stack_overflow_is_a_trap_and_the_store_survives(backend: str) -> None:
    store, ex = instantiate(TRAPS)
    recurse = make(store, ex["recurse"], backend)
    for _ in range(3):
        with pytest.raises(wasmtime.Trap) as info:
            recurse(0)
        assert info.value.trap_code == wasmtime.TrapCode.STACK_OVERFLOW
    assert make(store, ex["deep"], backend)
    assert make(store, ex["div_s"], backend)(9, 3) == 3


SPIN = '(module (func (export "spin") (loop $l (br $l))) (func (export "one") (result i32) (i32.const 1)))'


def test_out_of_fuel_is_a_trap(backend: str) -> None:
    config = wasmtime.Config()
    config.consume_fuel = True
    store = wasmtime.Store(wasmtime.Engine(config))
    _, ex = instantiate(SPIN, store=store)
    spin = make(store, ex["spin"], backend)
    store.set_fuel(10_000)
    expected = stock_trap(store, ex["spin"], ())
    store.set_fuel(10_000)
    with pytest.raises(wasmtime.Trap) as info:
        spin()
    assert info.value.trap_code == expected.trap_code == wasmtime.TrapCode.OUT_OF_FUEL
    assert info.value.message == expected.message
    store.set_fuel(10_000)
    assert make(store, ex["one"], backend)() == 1


def test_trap_from_a_host_function_called_directly(backend: str) -> None:
    store = wasmtime.Store(ENGINE)
    _, ex = instantiate(TRAPS, store=store)
    inner = make(store, ex["unreachable"], backend)

    def calls_trapping_wasm() -> None:
        inner()

    fn = wasmjit.Function.from_callback(store, calls_trapping_wasm)
    typed = make(store, fn, backend)
    with pytest.raises(wasmtime.Trap) as info:
        typed()
    assert info.value.trap_code == wasmtime.TrapCode.UNREACHABLE


# 6. Host exceptions ---------------------------------------------------------------------

CALLS_HOST = """
(module
  (import "" "h" (func $h (param i32) (result i32)))
  (func (export "go") (param i32) (result i32) (i32.add (call $h (local.get 0)) (i32.const 1)))
  (func (export "go_twice") (param i32) (result i32)
    (i32.add (call $h (local.get 0)) (call $h (i32.sub (local.get 0) (i32.const 1)))))
)
"""


class HostError(Exception):
    pass


class HostInterrupt(BaseException):
    pass


@pytest.mark.parametrize("kind", HOSTS)
@pytest.mark.parametrize("exc_type", [HostError, ValueError, HostInterrupt, KeyboardInterrupt])
def test_host_exception_is_reraised_as_the_same_object(backend: str, kind: str, exc_type: type) -> None:
    store = wasmtime.Store(ENGINE)
    raised: List[BaseException] = []

    def callback(x: int) -> int:
        if x < 0:
            error = exc_type(f"from host {x}")
            raised.append(error)
            raise error
        return x * 10

    h = host(store, kind, callback, "i32", "i32")
    _, ex = instantiate(CALLS_HOST, [h], store)
    go = make(store, ex["go"], backend)
    assert go(4) == 41
    for value in (-1, -2, -3):
        with pytest.raises(exc_type) as info:
            go(value)
        assert info.value is raised[-1]
        assert_no_pending_exception()
        # ... and the next call is clean.
        assert go(2) == 21
    # The second of two host calls raising.
    go_twice = make(store, ex["go_twice"], backend)
    assert go_twice(5) == 90
    with pytest.raises(exc_type) as info:
        go_twice(0)
    assert info.value is raised[-1]
    assert str(info.value) == "from host -1"
    # Typed on the host function itself, with no wasm in between.
    direct = make(store, h, backend)
    assert direct(3) == 30
    with pytest.raises(exc_type) as info:
        direct(-9)
    assert info.value is raised[-1]
    assert_no_pending_exception()


def test_host_exception_traceback_reaches_the_callback(backend: str) -> None:
    store = wasmtime.Store(ENGINE)

    def failing_callback(x: i32) -> i32:
        raise HostError("deep down")

    h = wasmjit.Function.from_callback(store, failing_callback)
    _, ex = instantiate(CALLS_HOST, [h], store)
    go = make(store, ex["go"], backend)
    with pytest.raises(HostError) as info:
        go(1)
    names = [entry.name for entry in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_callback" in names


def test_host_exception_caught_by_an_intermediate_host_does_not_leak(backend: str) -> None:
    store = wasmtime.Store(ENGINE)
    fns: Dict[str, Any] = {}

    def inner(x: i32) -> i32:
        raise HostError("inner")

    def outer(x: i32) -> i32:
        try:
            fns["go_inner"](x)
        except HostError:
            return 1000 + x
        raise AssertionError("not reached")

    inner_h = wasmjit.Function.from_callback(store, inner)
    outer_h = wasmjit.Function.from_callback(store, outer)
    _, ex_inner = instantiate(CALLS_HOST, [inner_h], store)
    _, ex_outer = instantiate(CALLS_HOST, [outer_h], store)
    fns["go_inner"] = make(store, ex_inner["go"], backend)
    go_outer = make(store, ex_outer["go"], backend)
    assert go_outer(5) == 1006
    assert_no_pending_exception()
    assert go_outer(6) == 1007


NEST = """
(module
  (import "" "h1" (func $h1 (param i32) (result i32)))
  (import "" "h2" (func $h2 (param i32) (result i32)))
  (import "" "h3" (func $h3 (param i32) (result i32)))
  (func (export "w1") (param i32) (result i32) (i32.add (call $h1 (local.get 0)) (i32.const 1)))
  (func (export "w2") (param i32) (result i32) (i32.add (call $h2 (local.get 0)) (i32.const 10)))
  (func (export "w3") (param i32) (result i32) (i32.add (call $h3 (local.get 0)) (i32.const 100)))
)
"""


@pytest.mark.parametrize(
    "kinds", [("wasmjit",) * 3, ("stock",) * 3, ("wasmjit", "stock", "wasmjit"), ("stock", "wasmjit", "stock")]
)
def test_nested_host_wasm_host_exception_reaches_the_outermost_call(backend: str, kinds: Tuple[str, ...]) -> None:
    store = wasmtime.Store(ENGINE)
    fns: Dict[str, Any] = {}
    raised: List[BaseException] = []
    depths: List[str] = []

    def h1(x: int) -> int:
        depths.append("h1")
        return fns["w2"](x) * 2

    def h2(x: int) -> int:
        depths.append("h2")
        return fns["w3"](x) * 3

    def h3(x: int) -> int:
        depths.append("h3")
        if x < 0:
            raised.append(HostError(x))
            raise raised[-1]
        return x + 1000

    hosts = [host(store, kind, cb, "i32", "i32") for kind, cb in zip(kinds, (h1, h2, h3), strict=True)]
    _, ex = instantiate(NEST, hosts, store)
    w1, fns["w2"], fns["w3"] = (make(store, ex[name], backend) for name in ("w1", "w2", "w3"))

    # Results are right at every depth.
    assert fns["w3"](5) == 5 + 1000 + 100
    assert fns["w2"](5) == (5 + 1000 + 100) * 3 + 10
    assert w1(5) == ((5 + 1000 + 100) * 3 + 10) * 2 + 1
    depths.clear()
    with pytest.raises(HostError) as info:
        w1(-7)
    assert info.value is raised[-1]
    assert depths == ["h1", "h2", "h3"]
    assert_no_pending_exception()
    # Everything still works, and a later failure is a new object.
    assert w1(0) == ((1000 + 100) * 3 + 10) * 2 + 1
    with pytest.raises(HostError) as again:
        w1(-8)
    assert again.value is raised[-1] and again.value is not info.value


def test_nested_trap_propagates_as_the_same_trap_object(backend: str) -> None:
    store = wasmtime.Store(ENGINE)
    _, traps = instantiate(TRAPS, store=store)
    div = make(store, traps["div_s"], backend)
    seen: List[BaseException] = []

    def h(x: i32) -> i32:
        try:
            return div(x, 0)
        except wasmtime.Trap as trap:
            seen.append(trap)
            raise

    hf = wasmjit.Function.from_callback(store, h)
    _, ex = instantiate(CALLS_HOST, [hf], store)
    go = make(store, ex["go"], backend)
    with pytest.raises(wasmtime.Trap) as info:
        go(1)
    assert info.value is seen[0]
    assert info.value.trap_code == wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO


def test_callback_returning_a_wrong_value_is_a_type_error_at_the_call(backend: str) -> None:
    store = wasmtime.Store(ENGINE)

    def bad(x: i32) -> i32:
        return "not an int"  # type: ignore[return-value]

    h = wasmjit.Function.from_callback(store, bad)
    _, ex = instantiate(CALLS_HOST, [h], store)
    go = make(store, ex["go"], backend)
    with pytest.raises(TypeError):
        go(1)
    assert_no_pending_exception()


# 9. Misuse -------------------------------------------------------------------------------------

SIMPLE = """
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "none"))
  (func (export "ref") (param funcref) (result i32) (ref.is_null (local.get 0)))
  (func (export "ext") (param externref) (result externref) (local.get 0))
  (memory (export "memory") 1)
)
"""


def test_call_after_store_close_raises_value_error(backend: str) -> None:
    store, ex = instantiate(SIMPLE)
    add = make(store, ex["add"], backend)
    none = make(store, ex["none"], backend)
    ref = make(store, ex["ref"], backend)
    ext = make(store, ex["ext"], backend)
    assert add(1, 2) == 3
    store.close()
    for call in (lambda: add(1, 2), none, lambda: ref(None), lambda: ext(object()), lambda: ext(None)):
        with pytest.raises(ValueError):
            call()
    # Repeatedly, and with bad arguments too.
    with pytest.raises((ValueError, TypeError)):
        add("x", 2)
    with pytest.raises(ValueError):
        add(1, 2)


def test_calls_through_host_functions_after_store_close_raise_value_error(backend: str) -> None:
    """Typed calls of a wasm export that calls a host function, and of the host function itself."""
    store = wasmtime.Store(ENGINE)
    h = wasmjit.Function.from_callback(
        store, lambda x: x * 2, type=wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    )
    _, ex = instantiate(CALLS_HOST, [h], store)
    go = make(store, ex["go"], backend)
    direct = make(store, h, backend)
    assert go(4) == 9 and direct(5) == 10
    store.close()
    for call in (go, direct):
        with pytest.raises(ValueError):
            call(4)
        with pytest.raises(ValueError):  # again: still an error, still no crash
            call(4)


def test_typed_on_a_closed_store_raises_value_error() -> None:
    store, ex = instantiate(SIMPLE)
    func = ex["add"]
    store.close()
    with pytest.raises(ValueError):
        wasmjit.typed(store, func)


def test_func_of_another_store_is_rejected(backend: str) -> None:
    store_a, ex_a = instantiate(SIMPLE)
    store_b, ex_b = instantiate(SIMPLE)
    kwargs: Dict[str, Any] = {"backend": backend}
    if backend == "reflect":
        kwargs["dynamic_code"] = False
    with pytest.raises(ValueError, match="another store"):
        wasmjit.typed(store_b, ex_a["add"], **kwargs)
    host_a = wasmjit.Function.from_callback(store_a, lambda: None, type=wasmtime.FuncType([], []))
    with pytest.raises(ValueError, match="another store"):
        wasmjit.typed(store_b, host_a, **kwargs)
    # Both stores still work.
    assert make(store_a, ex_a["add"], backend)(1, 1) == 2
    assert make(store_b, ex_b["add"], backend)(2, 2) == 4


def test_funcref_argument_from_another_store_is_rejected(backend: str) -> None:
    _, ex_a = instantiate(SIMPLE)
    store_b, ex_b = instantiate(SIMPLE)
    ref_b = make(store_b, ex_b["ref"], backend, name="ref")
    with pytest.raises(ValueError, match="argument 0 of ref"):
        ref_b(ex_a["add"])
    assert ref_b(ex_b["add"]) == 0
    assert ref_b(None) == 1


def test_non_store_and_non_func_arguments_are_type_errors() -> None:
    store, ex = instantiate(SIMPLE)
    with pytest.raises(TypeError):
        wasmjit.typed(store, ex["memory"])
    with pytest.raises(TypeError):
        wasmjit.typed(store, lambda x: x)
    with pytest.raises(TypeError):
        wasmjit.typed(object(), ex["add"])
    with pytest.raises(TypeError):
        wasmjit.typed(None, ex["add"])


MISUSE_SCRIPT = """
import wasmtime
import wasmjit

WAT = '''(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "ref") (param funcref) (result i32) (ref.is_null (local.get 0))))'''
engine = wasmtime.Engine()
module = wasmtime.Module(engine, WAT)
store_a, store_b = wasmtime.Store(engine), wasmtime.Store(engine)
ex_a = wasmtime.Instance(store_a, module, []).exports(store_a)
ex_b = wasmtime.Instance(store_b, module, []).exports(store_b)
outcomes = []
for backend, kw in (("bytecode", {}), ("source", {}), ("reflect", {"dynamic_code": False})):
    try:
        wasmjit.typed(store_b, ex_a["add"], backend=backend, **kw)
        outcomes.append("accepted")
    except Exception as exc:
        outcomes.append(type(exc).__name__)
    ref_b = wasmjit.typed(store_b, ex_b["ref"], backend=backend, **kw)
    try:
        ref_b(ex_a["add"])
        outcomes.append("accepted")
    except Exception as exc:
        outcomes.append(type(exc).__name__)
    assert wasmjit.typed(store_a, ex_a["add"], backend=backend, **kw)(2, 3) == 5
closing = wasmtime.Store(engine)
ex_c = wasmtime.Instance(closing, module, []).exports(closing)
add_c = wasmjit.typed(closing, ex_c["add"])
closing.close()
try:
    add_c(1, 2)
    outcomes.append("accepted")
except Exception as exc:
    outcomes.append(type(exc).__name__)
print(" ".join(outcomes))
"""


def test_misuse_in_a_subprocess_raises_and_the_process_exits_cleanly() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MISUSE_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONFAULTHANDLER": "0"},
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
    outcomes = proc.stdout.split()
    assert len(outcomes) == 7, proc.stdout
    assert "accepted" not in outcomes
    assert outcomes == ["ValueError"] * 7
