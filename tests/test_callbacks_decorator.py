"""``@linker.callback("env")``: define a host function with a decorator.

The decorator defines the function on a ``wasmjit.Linker`` as
``define_callback`` would, under its ``__name__`` or ``name=``, and returns
it unchanged.
"""

from __future__ import annotations

import functools
import gc
from typing import Any, Dict, List

import pytest
import wasmtime

import wasmjit
from wasmjit import f64, i32

CALLS_DOUBLE = """(module
  (import "env" "double" (func $double (param i32) (result i32)))
  (func (export "quad") (param i32) (result i32)
    (call $double (call $double (local.get 0)))))"""


def i32_type() -> wasmtime.ValType:
    return wasmtime.ValType.i32()


def quad_of(linker: wasmjit.Linker, wat: str = CALLS_DOUBLE) -> Any:
    """Instantiate ``wat`` with ``linker`` in a new store; its typed ``quad``."""
    store = wasmtime.Store(linker.engine)
    instance = linker.instantiate(store, wasmtime.Module(linker.engine, wat))
    return wasmjit.typed(store, instance.exports(store)["quad"])


def test_the_decorator_defines_the_function_under_its_name_and_returns_it_unchanged(backend: str) -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    seen: List[int] = []

    def double(x: i32) -> i32:
        seen.append(x)
        return 2 * x

    decorated = linker.callback("env", backend=backend)(double)
    assert decorated is double
    assert not hasattr(double, "backend")  # nothing added to the function
    assert double(21) == 42  # still an ordinary Python function
    assert quad_of(linker)(5) == 20
    assert seen == [21, 5, 10]


def test_decorator_syntax() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    @linker.callback("env")
    def double(x: i32) -> i32:
        return 2 * x

    assert double(4) == 8
    assert quad_of(linker)(3) == 12


def test_name_keyword_and_positional() -> None:
    engine = wasmtime.Engine()
    wat = """(module
      (import "env" "now" (func $now (result f64)))
      (import "env" "twice" (func $twice (param i32) (result i32)))
      (func (export "quad") (param i32) (result i32) (call $twice (call $twice (local.get 0))))
      (func (export "time") (result f64) (call $now)))"""
    linker = wasmjit.Linker(engine)

    @linker.callback("env", name="now")
    def clock() -> f64:
        return 12.5

    @linker.callback("env", "twice")
    def double(x: i32) -> i32:
        return 2 * x

    store = wasmtime.Store(engine)
    exports = wasmjit.exports(store, linker.instantiate(store, wasmtime.Module(engine, wat)))
    assert exports.time() == 12.5
    assert exports.quad(1) == 4
    assert clock() == 12.5


def test_a_lambda_needs_a_name() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    with pytest.raises(TypeError, match=r"a lambda has no name.*@linker\.callback\('env', name=") as info:
        linker.callback("env")(lambda x: x)
    assert "name=" in str(info.value)
    # With name= it is fine.
    doubled = linker.callback("env", name="double", type=wasmtime.FuncType([i32_type()], [i32_type()]))(lambda x: 2 * x)
    assert doubled(3) == 6
    assert quad_of(linker)(3) == 12


def test_a_callable_without_a_name_needs_one() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    def scale(factor: i32, x: i32) -> i32:
        return factor * x

    partial = functools.partial(scale, 2)
    with pytest.raises(TypeError, match=r"has no __name__.*name="):
        linker.callback("env")(partial)

    class Doubler:
        def __call__(self, x: i32) -> i32:
            return 2 * x

    with pytest.raises(TypeError, match=r"has no __name__.*name="):
        linker.callback("env")(Doubler())
    instance = Doubler()
    assert linker.callback("env", name="double")(instance) is instance
    assert quad_of(linker)(1) == 4


def test_the_decorator_without_parentheses_is_explained() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    def double(x: i32) -> i32:
        return 2 * x

    with pytest.raises(TypeError, match=r'write @linker\.callback\("env"\), not @linker\.callback'):
        linker.callback(double)  # type: ignore[arg-type]


def test_module_and_name_must_be_strings() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    with pytest.raises(TypeError, match="module must be a str, not int"):
        linker.callback(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name= must be a str, not bytes"):
        linker.callback("env", name=b"double")  # type: ignore[arg-type]


def test_defining_the_same_name_twice_is_an_error() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    @linker.callback("env")
    def double(x: i32) -> i32:
        return 2 * x

    with pytest.raises(wasmtime.WasmtimeError, match="double"):

        @linker.callback("env", name="double")
        def other(x: i32) -> i32:
            return 3 * x

    # The first definition stays.
    assert quad_of(linker)(1) == 4


def test_shadowing_when_the_linker_allows_it() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    linker.allow_shadowing = True

    @linker.callback("env")
    def double(x: i32) -> i32:
        return 2 * x

    @linker.callback("env", name="double")
    def triple(x: i32) -> i32:
        return 3 * x

    assert quad_of(linker)(1) == 9


def test_a_signature_error_is_raised_at_decoration_and_defines_nothing() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    with pytest.raises(TypeError, match="double"):

        @linker.callback("env")
        def double(x):  # type: ignore[no-untyped-def]
            return 2 * x

    with pytest.raises(wasmtime.WasmtimeError, match="unknown import"):
        quad_of(linker)


def test_every_option_reaches_define_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: List[Dict[str, Any]] = []
    original = wasmjit.Linker.define_callback

    def spy(self: wasmjit.Linker, module: str, name: str, callback: Any, **options: Any) -> str:
        recorded.append(dict(module=module, name=name, callback=callback, **options))
        return original(self, module, name, callback, **options)

    monkeypatch.setattr(wasmjit.Linker, "define_callback", spy)
    linker = wasmjit.Linker(wasmtime.Engine())
    ty = wasmtime.FuncType([i32_type(), i32_type()], [i32_type()])

    @linker.callback("env", name="peek", type=ty, access_caller=True, dynamic_code=False, backend="reflect")
    def peek(caller, ptr, n):  # type: ignore[no-untyped-def]
        return ptr + n

    assert recorded == [
        dict(
            module="env",
            name="peek",
            callback=peek,
            type=ty,
            access_caller=True,
            dynamic_code=False,
            backend="reflect",
        )
    ]


def test_backend_options_are_checked(backend: str) -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    def double(x: i32) -> i32:
        return 2 * x

    with pytest.raises(ValueError):
        linker.callback("env", backend="jit")(double)
    if backend != "reflect":
        with pytest.raises(ValueError):
            linker.callback("env", backend=backend, dynamic_code=False)(double)
    linker.callback("env", backend=backend)(double)
    assert quad_of(linker)(2) == 8


def test_type_and_access_caller(backend: str) -> None:
    linker = wasmjit.Linker(wasmtime.Engine())
    ty = wasmtime.FuncType([i32_type()], [i32_type()])

    @linker.callback("env", name="double", type=ty, access_caller=True, backend=backend)
    def peek(caller, x):  # type: ignore[no-untyped-def]
        memory = caller.memory()
        return memory.read(x, 1)[0]

    wat = """(module
      (import "env" "double" (func $peek (param i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 8) "\\2a")
      (func (export "quad") (param i32) (result i32) (call $peek (local.get 0))))"""
    assert quad_of(linker, wat)(8) == 42


def test_the_linker_keeps_the_function_alive() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    def define() -> None:
        @linker.callback("env")
        def double(x: i32) -> i32:
            return 2 * x

    define()
    gc.collect()
    assert quad_of(linker)(7) == 28


def test_an_exception_in_the_decorated_function_reaches_the_caller() -> None:
    linker = wasmjit.Linker(wasmtime.Engine())

    class Boom(Exception):
        pass

    @linker.callback("env")
    def double(x: i32) -> i32:
        raise Boom(x)

    with pytest.raises(Boom) as info:
        quad_of(linker)(3)
    assert info.value.args == (3,)
