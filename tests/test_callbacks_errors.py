"""Errors: whatever a callback raises comes back, as the same object, from the
outermost Python call into wasm; bad results are ``TypeError``s that say where."""

from typing import Any, Callable, List

import pytest
import wasmtime
from wasm_helpers import forwarding_wat, functype, instantiate

import wasmjit
from wasmjit import f64, i32, i64


class CustomBase(BaseException):
    """Not an Exception: like KeyboardInterrupt, it must still cross wasm."""


class CustomError(Exception):
    pass


def exceptions() -> List[BaseException]:
    return [
        ValueError("value"),
        CustomError("custom"),
        KeyboardInterrupt(),
        SystemExit(7),
        CustomBase("base"),
        GeneratorExit(),
        StopIteration(3),
        MemoryError(),
        RecursionError("deep"),
        wasmtime.Trap("a trap raised by Python"),
    ]


EXCEPTION_IDS = [type(e).__name__ for e in exceptions()]

WAT = forwarding_wat(["i32"], ["i32"], carriers=False)


def outer_calls(store: wasmtime.Store, run: wasmtime.Func) -> List[Callable[[], Any]]:
    """Every way a test enters wasm from Python."""
    typed = wasmjit.typed(store, run)
    return [lambda: run(store, 1), lambda: typed(1)]


@pytest.mark.parametrize("index", range(len(EXCEPTION_IDS)), ids=EXCEPTION_IDS)
def test_any_exception_is_reraised_as_the_same_object(store, backend, index):
    raised: List[BaseException] = []

    def fail(x: i32) -> i32:
        exc = exceptions()[index]
        raised.append(exc)
        raise exc

    host = wasmjit.Function.from_callback(store, fail, backend=backend)
    run = instantiate(store, WAT, [host])["run"]
    for call in outer_calls(store, run):
        with pytest.raises(BaseException) as info:
            call()
        assert info.value is raised[-1]
    # Called directly through wasmtime-py (no wasm in between).
    with pytest.raises(BaseException) as info:
        host(store, 1)
    assert info.value is raised[-1]


def test_exception_during_instantiation_start_function(store, backend):
    error = CustomBase("from start")

    def fail() -> None:
        raise error

    wat = '(module (import "host" "f" (func $f)) (start $f))'
    host = wasmjit.Function.from_callback(store, fail, backend=backend)
    with pytest.raises(CustomBase) as info:
        instantiate(store, wat, [host])
    assert info.value is error

    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "f", fail, backend=backend)
    with pytest.raises(CustomBase) as info:
        linker.instantiate(store, wasmtime.Module(store.engine, wat))
    assert info.value is error


def test_nothing_stays_parked_after_an_exception(store, backend):
    """After a re-raised exception, a plain trap is a plain trap and calls work."""
    error = ValueError("once")
    mode = ["raise"]

    def sometimes(x: i32) -> i32:
        if mode[0] == "raise":
            raise error
        return x

    host = wasmjit.Function.from_callback(store, sometimes, backend=backend)
    wat = forwarding_wat(["i32"], ["i32"], carriers=False, extra='(func (export "trap") unreachable)')
    exports = instantiate(store, wat, [host])
    with pytest.raises(ValueError):
        exports["run"](store, 1)
    mode[0] = "return"
    assert exports["run"](store, 5) == 5
    with pytest.raises(wasmtime.Trap):
        exports["trap"](store)
    with pytest.raises(wasmtime.Trap):
        wasmjit.typed(store, exports["trap"])()


def test_nested_exception_propagates_through_two_callbacks(store, backend):
    error = CustomBase("inner")

    def inner(x: i32) -> i32:
        raise error

    def outer(caller: wasmtime.Caller, x: i32) -> i32:
        return caller["inner_run"](caller, x) + 1

    wat = """(module
      (import "host" "outer" (func $outer (param i32) (result i32)))
      (import "host" "inner" (func $inner (param i32) (result i32)))
      (func (export "run") (param i32) (result i32) (call $outer (local.get 0)))
      (func (export "inner_run") (param i32) (result i32) (call $inner (local.get 0))))"""
    hosts = [wasmjit.Function.from_callback(store, f, backend=backend) for f in (outer, inner)]
    run = instantiate(store, wat, hosts)["run"]
    for call in outer_calls(store, run):
        with pytest.raises(CustomBase) as info:
            call()
        assert info.value is error


def test_nested_exception_caught_by_the_outer_callback(store, backend):
    error = CustomError("inner")
    caught: List[BaseException] = []

    def inner(x: i32) -> i32:
        raise error

    def outer(caller: wasmtime.Caller, x: i32) -> i32:
        try:
            return caller["inner_run"](caller, x)
        except CustomError as exc:
            caught.append(exc)
            return -1

    wat = """(module
      (import "host" "outer" (func $outer (param i32) (result i32)))
      (import "host" "inner" (func $inner (param i32) (result i32)))
      (func (export "run") (param i32) (result i32) (call $outer (local.get 0)))
      (func (export "inner_run") (param i32) (result i32) (call $inner (local.get 0)))
      (func (export "trap") unreachable))"""
    hosts = [wasmjit.Function.from_callback(store, f, backend=backend) for f in (outer, inner)]
    exports = instantiate(store, wat, hosts)
    assert exports["run"](store, 1) == -1
    assert wasmjit.typed(store, exports["run"])(1) == -1
    assert caught == [error, error]
    with pytest.raises(wasmtime.Trap):
        exports["trap"](store)


def test_stock_func_exception_through_typed_outer_call(store):
    error = CustomBase("stock")

    def fail(x):
        raise error

    host = wasmtime.Func(store, functype(["i32"], ["i32"]), fail)
    run = instantiate(store, WAT, [host])["run"]
    with pytest.raises(CustomBase) as info:
        wasmjit.typed(store, run)(1)
    assert info.value is error


def test_mixed_stock_and_wasmjit_callbacks(store, backend):
    """A wasmjit callback calls into wasm, which calls a stock callback that raises."""
    error = CustomError("from stock")

    def stock(x):
        raise error

    def jit(caller: wasmtime.Caller, x: i32) -> i32:
        return caller["inner_run"](caller, x)

    wat = """(module
      (import "host" "outer" (func $outer (param i32) (result i32)))
      (import "host" "inner" (func $inner (param i32) (result i32)))
      (func (export "run") (param i32) (result i32) (call $outer (local.get 0)))
      (func (export "inner_run") (param i32) (result i32) (call $inner (local.get 0))))"""
    hosts = [
        wasmjit.Function.from_callback(store, jit, backend=backend),
        wasmtime.Func(store, functype(["i32"], ["i32"]), stock),
    ]
    run = instantiate(store, wat, hosts)["run"]
    for call in outer_calls(store, run):
        with pytest.raises(CustomError) as info:
            call()
        assert info.value is error


# Wrong results ------------------------------------------------------------------------


def pair_wat() -> str:
    return forwarding_wat(["i32"], ["i32", "i64"], carriers=False)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ((1, 2, 3), r"misshapen returned 3 result\(s\), expected 2"),
        ((1,), r"misshapen returned 1 result\(s\), expected 2"),
        ((), r"misshapen returned 0 result\(s\), expected 2"),
        (5, r"misshapen must return a tuple of 2"),
        (None, r"misshapen must return a tuple of 2"),
        ("ab", r"misshapen must return a tuple of 2"),
        ((1, "x"), r"result 1 of .*misshapen"),
        (("x", 1), r"result 0 of .*misshapen"),
        ((1.5, 1), r"result 0 of .*misshapen"),
        ((1, None), r"result 1 of .*misshapen"),
        ([1, b"2"], r"result 1 of .*misshapen"),
    ],
    ids=repr,
)
def test_wrong_results_are_type_errors_naming_function_and_position(store, backend, returned, message):
    def misshapen(x: i32) -> tuple[i32, i64]:
        return returned

    host = wasmjit.Function.from_callback(store, misshapen, backend=backend)
    run = instantiate(store, pair_wat(), [host])["run"]
    for call in outer_calls(store, run):
        with pytest.raises(TypeError, match=message):
            call()


@pytest.mark.parametrize(
    # (an object()'s repr holds its address: pytest-xdist's workers would collect different ids)
    "returned",
    [0, 1, "", (), [], False, object()],
    ids=lambda value: "object" if type(value) is object else repr(value),
)
def test_returning_a_value_from_a_no_result_function(store, backend, returned):
    def chatty(x: i32) -> None:
        return returned

    host = wasmjit.Function.from_callback(store, chatty, backend=backend)
    run = instantiate(store, forwarding_wat(["i32"], [], carriers=False), [host])["run"]
    for call in outer_calls(store, run):
        with pytest.raises(TypeError, match="chatty"):
            call()


def test_returning_a_value_from_a_no_result_type_function(store, backend):
    host = wasmjit.Function.from_callback(store, lambda x: x, type=functype(["i32"], []), backend=backend)
    run = instantiate(store, forwarding_wat(["i32"], [], carriers=False), [host])["run"]
    with pytest.raises(TypeError, match="no results"):
        run(store, 1)


@pytest.mark.parametrize("returned", [None, "1", 1.0, (1,), [1], b"\x01"], ids=repr)
def test_wrong_single_result(store, backend, returned):
    def single(x: i32) -> i32:
        return returned

    host = wasmjit.Function.from_callback(store, single, backend=backend)
    run = instantiate(store, WAT, [host])["run"]
    for call in outer_calls(store, run):
        with pytest.raises(TypeError, match=r"result 0 of .*single"):
            call()


def test_wrong_float_result(store, backend):
    def floating(x: i32) -> f64:
        return "1.5"

    host = wasmjit.Function.from_callback(store, floating, backend=backend)
    run = instantiate(store, forwarding_wat(["i32"], ["f64"], carriers=False), [host])["run"]
    with pytest.raises(TypeError, match=r"result 0 of .*floating"):
        run(store, 1)


class Sneaky:
    """An int-like result whose conversion raises."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __index__(self) -> int:
        raise self.error

    def __float__(self) -> float:
        raise self.error


@pytest.mark.parametrize("error", [ZeroDivisionError("index"), CustomBase("index")], ids=repr)
def test_result_whose_conversion_raises(store, backend, error):
    def sneaky(x: i32) -> tuple[i32, f64]:
        return Sneaky(error), 1.0

    host = wasmjit.Function.from_callback(store, sneaky, backend=backend)
    run = instantiate(store, forwarding_wat(["i32"], ["i32", "f64"], carriers=False), [host])["run"]
    for call in outer_calls(store, run):
        with pytest.raises(type(error)) as info:
            call()
        assert info.value is error


def test_function_keeps_working_after_errors(store, backend):
    queue: List[Any] = [(1, "bad"), (1, 2, 3), 2**70, ValueError("x"), (4, 5)]

    def flaky(x: i32) -> tuple[i32, i64]:
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    host = wasmjit.Function.from_callback(store, flaky, backend=backend)
    run = instantiate(store, pair_wat(), [host])["run"]
    for expected in (TypeError, TypeError, TypeError, ValueError):
        with pytest.raises(expected):
            run(store, 0)
    assert run(store, 0) == [4, 5]


def test_exception_from_a_signal_handler_is_not_lost(store, backend):
    """A signal handler that raises while a callback runs: the exception reaches the outer call."""
    import os
    import signal

    if not hasattr(signal, "SIGUSR1"):
        pytest.skip("needs SIGUSR1")
    error = CustomBase("from a signal handler")

    def handler(signum, frame):
        raise error

    def signalled(x: i32) -> i32:
        os.kill(os.getpid(), signal.SIGUSR1)
        return x

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        host = wasmjit.Function.from_callback(store, signalled, backend=backend)
        run = instantiate(store, WAT, [host])["run"]
        for call in outer_calls(store, run):
            with pytest.raises(CustomBase) as info:
                call()
            assert info.value is error
    finally:
        signal.signal(signal.SIGUSR1, previous)
