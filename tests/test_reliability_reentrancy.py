"""Re-entrancy: host -> wasm -> host -> wasm through the same Function and typed function.

A typed call owns one argument/result buffer; a nested call through the same
typed function finds it busy and goes through a sibling caller with a buffer
of its own, running the same trampoline code at every depth.  The
results, the references and the exceptions must be right at every depth.

Unbounded recursion must end in a ``wasmtime.Trap`` (wasm's stack limit) or
a ``RecursionError`` (Python's), re-raised as the same object at every level,
never in a crash and never in a silently wrong value.  Those cases run in
subprocesses: a crash must not take the test session down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Tuple

import pytest
import wasmtime
from wasm_helpers import available_backends

import wasmjit
from wasmjit import externref, f32, f64, i32, i64

BACKENDS = available_backends()

WAT = """
(module
  (import "host" "down" (func $down (param i32 i64 f64 externref f32) (result i64 f64 externref i32)))
  (func (export "dive") (param i32 i64 f64 externref f32) (result i64 f64 externref i32)
    (call $down (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4))))
"""


class Marker(Exception):
    pass


class Level:
    """What one depth saw."""

    def __init__(self, depth: int, args: Tuple[Any, ...]) -> None:
        self.depth = depth
        self.args = args
        self.inner: Any = None
        self.error: Any = None


def build(store: wasmtime.Store, host_backend: str, call_backend: str, behaviour: Any) -> Tuple[Any, List[Level]]:
    """One host function (wasmjit's on ``host_backend``, or ``"stock"``) and one typed ``dive``.

    ``behaviour(level, dive)`` customises each level.
    """
    levels: List[Level] = []
    holder: List[Any] = []

    def down(depth: i32, acc: i64, x: f64, ref: externref, y: f32) -> Tuple[i64, f64, externref, i32]:
        level = Level(depth, (depth, acc, x, ref, y))
        levels.append(level)
        return behaviour(level, holder[0])

    module = wasmtime.Module(store.engine, WAT)
    if host_backend == "stock":
        host: wasmtime.Func = wasmtime.Func(store, module.imports[0].type, down)  # type: ignore[arg-type]
    else:
        host = wasmjit.Function.from_callback(store, down, backend=host_backend)
    dive = wasmtime.Instance(store, module, [host]).exports(store)["dive"]
    typed_dive = wasmjit.typed(store, dive, backend=call_backend)
    holder.append(typed_dive)
    return typed_dive, levels


#: (host backend, typed call backend); stock wasmtime-py host functions too.
PAIRS = [(h, c) for h in (*BACKENDS, "stock") for c in BACKENDS]


@pytest.mark.parametrize(("host_backend", "call_backend"), PAIRS)
def test_results_at_every_depth(host_backend: str, call_backend: str) -> None:
    """Dives of several depths through the same typed call, one after another."""
    store = wasmtime.Store()
    depth_max = 0
    tokens = [object() for _ in range(41)]

    def behaviour(level: Level, dive: Any) -> Any:
        depth, acc, x, ref, y = level.args
        assert ref is tokens[depth]
        if depth == depth_max:
            return acc, x, ref, depth
        inner = dive(depth + 1, acc * 3 % 1_000_000_007 + depth, x / 2, tokens[depth + 1], y + 1.0)
        level.inner = inner
        # The inner call reused the buffer this level's arguments came from:
        # the values decoded before are unaffected.
        assert level.args == (depth, acc, x, ref, y)
        i_acc, i_x, i_ref, i_depth = inner
        assert i_ref is tokens[depth + 1] and i_depth == depth + 1
        return i_acc + 1, i_x, ref, depth

    dive, levels = build(store, host_backend, call_backend, behaviour)
    for depth_max in (0, 1, 5, 40):
        levels.clear()
        result = dive(0, 1, 1024.0, tokens[0], 0.5)
        # Recompute what every level must have seen.
        acc, x, y = 1, 1024.0, 0.5
        for depth in range(depth_max + 1):
            assert levels[depth].args == (depth, acc, x, tokens[depth], y)
            acc, x, y = acc * 3 % 1_000_000_007 + depth, x / 2, y + 1.0
        # Every level got its inner level's results.
        acc_max, x_max = levels[depth_max].args[1:3]
        for depth in range(depth_max):
            assert levels[depth].inner == (acc_max + depth_max - depth - 1, x_max, tokens[depth + 1], depth + 1)
        final_acc = levels[depth_max].args[1] + depth_max
        assert result == (final_acc, levels[depth_max].args[2], tokens[0], 0)
        assert len(levels) == depth_max + 1
    store.close()


@pytest.mark.parametrize(("host_backend", "call_backend"), PAIRS)
def test_exception_from_the_bottom_reaches_the_top(host_backend: str, call_backend: str) -> None:
    store = wasmtime.Store()
    bottom = 25
    seen: List[BaseException] = []
    marker = Marker("bottom")

    def behaviour(level: Level, dive: Any) -> Any:
        depth = level.depth
        if depth == bottom:
            raise marker
        if depth > bottom:
            return level.args[1], level.args[2], level.args[3], depth
        try:
            dive(depth + 1, 0, 0.0, None, 0.0)
        except BaseException as exc:
            seen.append(exc)
            raise
        raise AssertionError("unreachable")

    dive, levels = build(store, host_backend, call_backend, behaviour)
    with pytest.raises(Marker) as info:
        dive(0, 0, 0.0, None, 0.0)
    assert info.value is marker
    assert len(seen) == bottom and all(exc is marker for exc in seen)
    # Nothing stays parked; the functions keep working.
    assert wasmjit.boundary.errors.take_pending() is None
    # The callback of the outermost call raising: the same object again.
    seen.clear()
    with pytest.raises(Marker) as info:
        dive(bottom, 0, 0.0, None, 0.0)
    assert info.value is marker and seen == []
    # The shared buffer is consistent afterwards: a call that does not raise.
    token = object()
    assert dive(bottom + 1, 5, 2.5, token, 1.5) == (5, 2.5, token, bottom + 1)
    assert levels[-1].args == (bottom + 1, 5, 2.5, token, 1.5)
    assert wasmjit.boundary.errors.take_pending() is None
    store.close()


@pytest.mark.parametrize(("host_backend", "call_backend"), PAIRS)
def test_exception_caught_midway(host_backend: str, call_backend: str) -> None:
    """Level k catches what level k+1 raised and returns normally: everything above is unaffected."""
    store = wasmtime.Store()
    bottom, catcher = 20, 8
    markers = {}

    def behaviour(level: Level, dive: Any) -> Any:
        depth = level.depth
        if depth == bottom:
            markers[depth] = Marker(depth)
            raise markers[depth]
        try:
            inner = dive(depth + 1, level.args[1] + 1, level.args[2], level.args[3], level.args[4])
        except Marker as exc:
            if depth != catcher:
                raise
            assert exc is markers[bottom]
            level.error = exc
            return -1, 0.5, level.args[3], depth
        return inner[0] + 1, inner[1], inner[2], inner[3]

    dive, levels = build(store, host_backend, call_backend, behaviour)
    token = object()
    assert dive(0, 0, 3.0, token, 0.0) == (-1 + catcher, 0.5, token, catcher)
    assert [lv.depth for lv in levels] == list(range(bottom + 1))
    assert levels[catcher].error is markers[bottom]
    store.close()


@pytest.mark.parametrize("host_backend", BACKENDS)
def test_nested_through_stock_and_typed_alternately(host_backend: str) -> None:
    """Alternate wasmjit typed calls and stock ``Func.__call__`` between levels; exceptions still arrive."""
    store = wasmtime.Store()
    bottom = 16
    marker = Marker("mixed")
    seen: List[BaseException] = []
    stock_dive: List[Any] = []

    def behaviour(level: Level, dive: Any) -> Any:
        depth = level.depth
        if depth == bottom:
            raise marker
        enter = dive if depth % 2 else (lambda *a: stock_dive[0](store, *a))
        try:
            enter(depth + 1, 0, 0.0, None, 0.0)
        except BaseException as exc:
            seen.append(exc)
            raise
        raise AssertionError("unreachable")

    typed_dive, _ = build(store, host_backend, "bytecode", behaviour)
    stock_dive.append(typed_dive.__wasmjit__.func)  # the wasmtime.Func behind the typed call
    with pytest.raises(Marker) as info:
        typed_dive(0, 0, 0.0, None, 0.0)
    assert info.value is marker and len(seen) == bottom and all(exc is marker for exc in seen)
    with pytest.raises(Marker) as info:
        stock_dive[0](store, 0, 0, 0.0, None, 0.0)
    assert info.value is marker
    store.close()


@pytest.mark.parametrize("host_backend", (*BACKENDS, "stock"))
def test_reentrant_typed_call_of_a_host_function(host_backend: str, backend: str) -> None:
    """typed() on the host function itself: wasmtime hands the host trampoline the typed
    call's own buffer, and the callback re-enters the same typed call."""
    store = wasmtime.Store()
    fns: Dict[str, Any] = {}

    def fact(n: i32, acc: i64) -> i64:
        if n <= 1:
            return acc
        return fns["fact"](n - 1, acc * n)

    ty = wasmtime.FuncType([wasmtime.ValType.i32(), wasmtime.ValType.i64()], [wasmtime.ValType.i64()])
    if host_backend == "stock":
        h: wasmtime.Func = wasmtime.Func(store, ty, fact)
    else:
        h = wasmjit.Function.from_callback(store, fact, backend=host_backend)
    fns["fact"] = wasmjit.typed(store, h, backend=backend)
    assert fns["fact"](1, 1) == 1
    assert fns["fact"](10, 1) == 3628800
    assert fns["fact"](20, 1) == 2432902008176640000
    store.close()


# Unbounded recursion, in subprocesses ----------------------------------------------

RECURSION_SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32

backend, limit = sys.argv[1], int(sys.argv[2])
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''
(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "rec") (param i32) (result i32) (call $cb (local.get 0))))''')
seen = []
deepest = [0]

def cb(depth: i32) -> i32:
    deepest[0] = max(deepest[0], depth)
    try:
        return rec(depth + 1) + 1   # never returns normally: there is no base case
    except BaseException as exc:
        seen.append(exc)
        raise

host = wasmjit.Function.from_callback(store, cb, backend=backend)
rec = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["rec"], backend=backend)
outcomes = []
for attempt in range(3):
    seen.clear()
    if limit:
        # Python's limit first: each level takes a few frames, so three
        # consecutive limits put the overflow on each frame of a level.
        sys.setrecursionlimit(limit + attempt)
    try:
        value = rec(0)
    except (wasmtime.Trap, RecursionError) as exc:
        same = all(s is exc for s in seen)
        outcomes.append(f"{type(exc).__name__} depth={deepest[0]} levels={len(seen)} same={same}")
        if not same or not seen:
            print("DIFFERENT OBJECTS", outcomes[-1], flush=True)
            sys.exit(3)
    else:
        sys.setrecursionlimit(1000)
        print(f"RETURNED {value!r} at depth {deepest[0]} (attempt {attempt})", flush=True)
        sys.exit(4)
    finally:
        sys.setrecursionlimit(1000)
    assert rec.__wasmjit__ is not None
assert wasmjit.boundary.errors.take_pending() is None
print("OK", "; ".join(outcomes), flush=True)
"""


def run_recursion(backend: str, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", RECURSION_SCRIPT, backend, str(limit)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    err = proc.stderr
    if len(err) > 3000:
        err = err[:1500] + "\n[...]\n" + err[-1500:]
    return textwrap.shorten(f"exit {proc.returncode}; stdout: {proc.stdout!r}", 600) + "\nstderr:\n" + err


def test_unbounded_recursion_hits_the_wasm_stack_limit(backend: str) -> None:
    """Default limits: wasm's stack runs out first; a Trap reaches the top, the same object at every level."""
    proc = run_recursion(backend, 0)
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), describe(proc)
    assert "Exception ignored" not in proc.stderr, describe(proc)


@pytest.mark.parametrize("limit", [120, 400])
def test_unbounded_recursion_hits_the_python_recursion_limit(backend: str, limit: int) -> None:
    """Python's recursion limit first: a RecursionError (or Trap) reaches the top, never a wrong value or crash.

    With a low recursion limit the overflow happens inside a trampoline
    (entering it from ctypes, calling the callback, or in its failure path)
    rather than in user code.
    """
    proc = run_recursion(backend, limit)
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), describe(proc)
    assert "Exception ignored" not in proc.stderr, describe(proc)


NEAR_LIMIT_SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32

backend = sys.argv[1]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''
(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "f") (param i32) (result i32) (call $cb (local.get 0))))''')

def cb(x: i32) -> i32:
    return x + 1

host = wasmjit.Function.from_callback(store, cb, backend=backend)
f = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["f"], backend=backend)

def deep(n):
    if n == 0:
        return f(5)
    return deep(n - 1)

limit = sys.getrecursionlimit()
outcomes = {"ok": 0, "RecursionError": 0}
wrong = []
for n in range(limit - 80, limit):
    try:
        value = deep(n)
    except RecursionError:
        outcomes["RecursionError"] += 1
        continue
    if value == 6:
        outcomes["ok"] += 1
    else:
        wrong.append((n, value))
if wrong:
    print("WRONG", wrong, flush=True)
    sys.exit(4)
print("OK", outcomes, flush=True)
"""


def test_entering_wasm_near_the_recursion_limit(backend: str) -> None:
    """A typed call made with the Python stack nearly full: the right value or a RecursionError.

    Here the trampoline that wasm calls back may have no room to start, or
    to report its failure; whatever happens must reach the caller as an
    exception, not as a wrong result or a crash.
    """
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", NEAR_LIMIT_SCRIPT, backend],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), describe(proc)
