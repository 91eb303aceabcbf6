"""Drop-in workloads: unmodified wasmtime-py code, without and with ``wasmjit.install()``.

Both variants run the very same code, written as a wasmtime-py user writes
it: ``Func(store, FuncType(...), fn)`` as the import, ``run(store, n)``
starting the wasm loop, and ``add(store, a, b)`` in a Python loop.  The
``install`` variant builds its store, functions and instance while wasmjit
is installed and keeps it installed while it is timed; the ``stock`` variant
builds and runs with it uninstalled.  (Installing and uninstalling happen
outside the timed part.)
"""

from __future__ import annotations

import time
from itertools import repeat
from typing import Any, Callable, Dict, List

import wasmtime

import wasmjit

from . import wasm
from .measure import Runner

__all__ = ["build_callback_loop", "build_call_loop"]

I32 = wasmtime.ValType.i32


def _user_callback_program() -> Callable[[int], Any]:
    """What a wasmtime-py user writes: a host import and a wasm loop calling it."""
    store = wasmtime.Store()
    seen: List[int] = []
    host = wasmtime.Func(store, wasmtime.FuncType([I32()], []), lambda x: seen.append(x) if x < 0 else None)
    module = wasmtime.Module(store.engine, wasm.CALLBACK_I32)
    run = wasmtime.Instance(store, module, [host]).exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    return lambda n: run(store, n)


def _user_call_program() -> Callable[[int], Any]:
    """What a wasmtime-py user writes: a Python loop calling an export."""
    store = wasmtime.Store()
    module = wasmtime.Module(store.engine, wasm.CALLS)
    add = wasmtime.Instance(store, module, []).exports(store)["add"]
    assert isinstance(add, wasmtime.Func)

    def many(n: int) -> Any:
        total = 0
        for i in repeat(3, n):
            total = add(store, i, 4)
        return total

    return many


def _variants(make: Callable[[], Callable[[int], Any]]) -> Dict[str, Runner]:
    wasmjit.uninstall()
    stock = make()
    wasmjit.install()
    try:
        installed = make()
    finally:
        wasmjit.uninstall()
    assert stock(5) == installed(5)

    def run_stock(n: int) -> float:
        start = time.perf_counter_ns()
        stock(n)
        return time.perf_counter_ns() - start

    def run_installed(n: int) -> float:
        wasmjit.install()
        try:
            start = time.perf_counter_ns()
            installed(n)
            return time.perf_counter_ns() - start
        finally:
            wasmjit.uninstall()

    return {"stock": run_stock, "install": run_installed}


def build_callback_loop(notes: List[str]) -> Dict[str, Runner]:
    return _variants(_user_callback_program)


def build_call_loop(notes: List[str]) -> Dict[str, Runner]:
    return _variants(_user_call_program)
