"""A small user program that type checkers must understand as its author means it.

tests/test_static_types.py runs ``mypy --strict`` (and pyright, where it is
installed) over this file and compares every ``reveal_type`` with what it
expects.  A ``# type: ignore[code]`` marks a line mypy must reject: under
``--strict`` (``warn_unused_ignores``) an ignore that is not needed fails.
Nothing here runs: the file is only checked.
"""

from __future__ import annotations

from typing import Callable

import wasmtime
from typing_extensions import reveal_type

import wasmjit
from wasmjit import f64, i32, i64


def typed_calls(store: wasmtime.Store, func: wasmtime.Func, instance: wasmtime.Instance) -> None:
    add = wasmjit.typed(store, func, Callable[[i32, i32], i32])
    reveal_type(add)
    reveal_type(add(1, 2))
    add(1, "2")  # type: ignore[arg-type]
    add(1)  # type: ignore[call-arg]

    divmod_ = wasmjit.typed(store, func, signature=Callable[[i64, i64], tuple[i64, i64]], name="divmod")
    reveal_type(divmod_)
    reveal_type(wasmjit.typed(store, func, Callable[[i32], tuple[i32]]))
    reveal_type(wasmjit.typed(store, func, Callable[[], None]))
    greet = wasmjit.typed(store, func, Callable[[wasmjit.Str], wasmjit.Bytes], instance=instance)
    reveal_type(greet)

    untyped = wasmjit.typed(store, func)
    reveal_type(untyped)
    reveal_type(untyped(1, 2))

    wasmjit.typed(store, func, int)  # type: ignore[arg-type]


def decorator(engine: wasmtime.Engine) -> None:
    linker = wasmjit.Linker(engine)

    @linker.callback("env")
    def double(x: i32) -> i32:
        return 2 * x

    reveal_type(double)
    reveal_type(double(21))

    @linker.callback("env", name="now", backend="source")
    def clock() -> f64:
        return 0.0

    reveal_type(clock)


def from_callback(store: wasmtime.Store) -> None:
    def double(x: i32) -> i32:
        return 2 * x

    reveal_type(wasmjit.Function.from_callback(store, double))


def exports(store: wasmtime.Store, instance: wasmtime.Instance) -> None:
    ex = wasmjit.exports(store, instance)
    reveal_type(ex)
    reveal_type(ex.add)
    reveal_type(ex["do-work"])
    reveal_type(len(ex))
