"""Timing loops for calls made from Python, one per arity.

``loop(f, a, b)`` returns a runner whose hot loop is ``for _ in repeat(None,
n): f(a, b)``: the arguments are spelled out, so no variant pays for
building or unpacking ``*args``.  Stock's loops pass the store first
(``func(store, a, b)``), which is why arities up to five exist.
``bind_call`` and ``do_nothing`` do the same for the allocation workloads.
"""

from __future__ import annotations

import time
from itertools import repeat
from typing import Any, Callable, Dict, Tuple

from .measure import Runner

__all__ = ["loop", "bind_call", "do_nothing", "batch"]


def _loop0(f: Callable[..., Any]) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f()
        return time.perf_counter_ns() - start

    return runner


def _loop1(f: Callable[..., Any], a: Any) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f(a)
        return time.perf_counter_ns() - start

    return runner


def _loop2(f: Callable[..., Any], a: Any, b: Any) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f(a, b)
        return time.perf_counter_ns() - start

    return runner


def _loop3(f: Callable[..., Any], a: Any, b: Any, c: Any) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f(a, b, c)
        return time.perf_counter_ns() - start

    return runner


def _loop4(f: Callable[..., Any], a: Any, b: Any, c: Any, d: Any) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f(a, b, c, d)
        return time.perf_counter_ns() - start

    return runner


def _loop5(f: Callable[..., Any], a: Any, b: Any, c: Any, d: Any, e: Any) -> Runner:
    def runner(n: int) -> float:
        it = repeat(None, n)
        start = time.perf_counter_ns()
        for _ in it:
            f(a, b, c, d, e)
        return time.perf_counter_ns() - start

    return runner


_LOOPS: Dict[int, Callable[..., Runner]] = {0: _loop0, 1: _loop1, 2: _loop2, 3: _loop3, 4: _loop4, 5: _loop5}


def loop(f: Callable[..., Any], *args: Any) -> Runner:
    """A runner calling ``f(*args)`` ``n`` times, spelled out for ``len(args)``."""
    return _LOOPS[len(args)](f, *args)


def do_nothing(n: int) -> Callable[..., None]:
    """A Python function of ``n`` parameters that does nothing (an allocation baseline)."""

    def f0() -> None: ...
    def f1(a: Any) -> None: ...
    def f2(a: Any, b: Any) -> None: ...
    def f3(a: Any, b: Any, c: Any) -> None: ...
    def f4(a: Any, b: Any, c: Any, d: Any) -> None: ...
    def f5(a: Any, b: Any, c: Any, d: Any, e: Any) -> None: ...

    functions: Dict[int, Callable[..., None]] = {0: f0, 1: f1, 2: f2, 3: f3, 4: f4, 5: f5}
    return functions[n]


def bind_call(f: Callable[..., Any], args: Tuple[Any, ...]) -> Callable[[], object]:
    """``f`` called with ``args`` spelled out, as a function of no arguments."""
    if len(args) == 2:
        a, b = args
        return lambda: f(a, b)
    if len(args) == 3:
        a, b, c = args
        return lambda: f(a, b, c)
    if len(args) == 4:
        a, b, c, d = args
        return lambda: f(a, b, c, d)
    if len(args) == 5:
        a, b, c, d, e = args
        return lambda: f(a, b, c, d, e)
    return lambda: f(*args)


def batch(run: Callable[[int], None]) -> Runner:
    """A runner timing one call of ``run(n)``, which itself repeats the operation ``n`` times (a wasm loop)."""

    def runner(n: int) -> float:
        start = time.perf_counter_ns()
        run(n)
        return time.perf_counter_ns() - start

    return runner
