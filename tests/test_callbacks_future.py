"""Callbacks defined under ``from __future__ import annotations`` (PEP 563).

Every annotation in this module is a string; wasmjit must evaluate it in the
callback's module globals.
"""

from __future__ import annotations

import typing
from typing import Any, List, Optional

import pytest
import wasmtime
from wasm_helpers import forwarding_wat, functype, instantiate

import wasmjit
from wasmjit import Kind, externref, f32, f64, funcref, i32, i64


def mixed(a: i32, b: i64, c: f32, d: f64) -> tuple[f64, f32, i64, i32]:
    return d, c, b, a


def plain(a: int, b: float, flag: bool) -> float:
    return a * b if flag else -1.0


def refs(f: Optional[wasmtime.Func], g: funcref, x: externref) -> tuple[externref, funcref, wasmtime.Func | None]:
    return x, g, f


def with_caller(caller: wasmtime.Caller, ptr: i32) -> i32:
    return caller["memory"].read(caller, ptr, ptr + 1)[0]


def with_wasmjit_caller(caller: wasmjit.Caller, ptr: i32) -> i32:
    return caller["memory"].read(caller, ptr, ptr + 1)[0] + 1


def nothing(x: i32) -> None:
    return None


def one_tuple(x: i32) -> tuple[i32]:
    return (x,)


def typing_tuple(x: i32) -> typing.Tuple[i64, i64]:
    return x, -x


def unresolvable(x: NotDefinedAnywhere) -> i32:  # type: ignore[name-defined]  # noqa: F821
    return 0


class Holder:
    def method(self, x: i64) -> i64:
        return x + 1


def test_string_annotations_resolve():
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, mixed)
    assert host.signature.params == (Kind.I32, Kind.I64, Kind.F32, Kind.F64)
    assert host.signature.results == (Kind.F64, Kind.F32, Kind.I64, Kind.I32)
    host = wasmjit.Function.from_callback(store, plain)
    assert host.signature.params == (Kind.I32, Kind.F64, Kind.I32)
    host = wasmjit.Function.from_callback(store, refs)
    assert host.signature.params == (Kind.FUNCREF, Kind.FUNCREF, Kind.EXTERNREF)
    assert host.signature.results == (Kind.EXTERNREF, Kind.FUNCREF, Kind.FUNCREF)
    assert wasmjit.Function.from_callback(store, nothing).signature.results == ()
    assert wasmjit.Function.from_callback(store, one_tuple).signature.results_as_tuple
    assert wasmjit.Function.from_callback(store, typing_tuple).signature.results == (Kind.I64, Kind.I64)
    assert wasmjit.Function.from_callback(store, Holder().method).signature.params == (Kind.I64,)


def test_future_annotated_callbacks_run(backend):
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, mixed, backend=backend)
    kinds_in, kinds_out = ["i32", "i64", "f32", "f64"], ["f64", "f32", "i64", "i32"]
    run = instantiate(store, forwarding_wat(kinds_in, kinds_out, carriers=False), [host])["run"]
    assert run(store, 1, -2, 0.5, 0.125) == [0.125, 0.5, -2, 1]

    host = wasmjit.Function.from_callback(store, refs, backend=backend)
    kinds = ["funcref", "funcref", "externref"]
    wat = forwarding_wat(kinds, ["externref", "funcref", "funcref"], carriers=False)
    run = instantiate(store, wat, [host])["run"]
    seven = wasmtime.Func(store, functype([], ["i32"]), lambda: 7)
    token = object()
    x, g, f = run(store, None, seven, token)
    assert x is token and g(store) == 7 and f is None

    assert wasmjit.Function.from_callback(store, one_tuple, backend=backend)(store, 9) == 9
    assert wasmjit.Function.from_callback(store, typing_tuple, backend=backend)(store, 9) == [9, -9]


@pytest.mark.parametrize("callback", [with_caller, with_wasmjit_caller])
def test_future_annotated_caller(backend, callback):
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, callback, backend=backend)
    assert host.signature.wants_caller
    wat = forwarding_wat(
        ["i32"], ["i32"], carriers=False, extra='(memory (export "memory") 1) (data (i32.const 3) "A")'
    )
    run = instantiate(store, wat, [host])["run"]
    assert run(store, 3) == ord("A") + (callback is with_wasmjit_caller)


def test_future_unresolvable_annotation_is_a_type_error():
    with pytest.raises(TypeError, match="unresolvable"):
        wasmjit.Function.from_callback(wasmtime.Store(), unresolvable)


def test_future_annotations_with_type_agree_and_disagree():
    store = wasmtime.Store()
    ty = functype(["i32", "i64", "f32", "f64"], ["f64", "f32", "i64", "i32"])
    assert wasmjit.Function.from_callback(store, mixed, type=ty).signature.params[1] is Kind.I64
    bad = functype(["i32", "i32", "f32", "f64"], ["f64", "f32", "i64", "i32"])
    with pytest.raises(TypeError, match="'b'"):
        wasmjit.Function.from_callback(store, mixed, type=bad)


def test_future_linker_define_callback():
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    linker.define_callback("host", "f", mixed)
    kinds_in, kinds_out = ["i32", "i64", "f32", "f64"], ["f64", "f32", "i64", "i32"]
    module = wasmtime.Module(engine, forwarding_wat(kinds_in, kinds_out, carriers=False))
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, module).exports(store)["run"]
    out: List[Any] = run(store, 4, 5, 1.5, 2.5)
    assert out == [2.5, 1.5, 5, 4]
