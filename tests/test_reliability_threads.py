"""Threads: each thread, with its own store, sees only its own results and exceptions.

wasmtime runs wasm with the GIL released (ctypes releases it around every
foreign call), so threads really interleave: while one thread is inside wasm
another parks an exception, traps, or takes its result.  wasmjit parks a
callback's exception in a per-thread slot; these tests hold it to that.
(They are the suite's only tests of exceptions on several threads at once.)
"""

from __future__ import annotations

import importlib.metadata
import sys
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest
import wasmtime
from wasm_helpers import available_backends

import wasmjit
from wasmjit import externref, f64, i32, i64
from wasmjit.boundary.errors import take_pending

BACKENDS = available_backends()
THREADS = 8
ROUNDS = 150

WAT = """
(module
  (import "host" "value" (func $value (param i32 i64) (result i64)))
  (import "host" "check" (func $check (param i32 i32)))
  (import "host" "pair" (func $pair (param externref f64) (result externref f64)))
  ;; sum of value(tid, i) for i in 0..n
  (func (export "sum") (param $tid i32) (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc
          (i64.add (local.get $acc) (call $value (local.get $tid) (i64.extend_i32_u (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  ;; calls check(tid, i) for i in 0..n; check raises at the chosen i
  (func (export "visit") (param $tid i32) (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (call $check (local.get $tid) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "pair") (param externref f64) (result externref f64)
    (call $pair (local.get 0) (local.get 1)))
  (func (export "trap") (param i32) (result i32)
    (if (local.get 0) (then unreachable))
    (i32.const 7)))
"""


class ThreadFailure(Exception):
    """Raised by a callback; carries the thread and round it was made for."""

    def __init__(self, tid: int, round_: int) -> None:
        super().__init__(tid, round_)
        self.tid = tid
        self.round = round_


class Worker:
    """One thread's store, host functions and typed calls."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, tid: int, backend: str) -> None:
        self.tid = tid
        self.backend = backend
        self.store = wasmtime.Store(engine)
        self.raise_at = -1
        self.round = 0
        self.raised: List[ThreadFailure] = []
        self.wrong: List[str] = []

        def value(tid: i32, i: i64) -> i64:
            if tid != self.tid:
                self.wrong.append(f"value() of thread {self.tid} got tid {tid}")
            return tid * 1_000_000 + i

        def check(tid: i32, i: i32) -> None:
            if tid != self.tid:
                self.wrong.append(f"check() of thread {self.tid} got tid {tid}")
            if i == self.raise_at:
                exc = ThreadFailure(self.tid, self.round)
                self.raised.append(exc)
                raise exc

        def pair(obj: externref, x: f64) -> Tuple[externref, f64]:
            return obj, x * 2

        hosts = [wasmjit.Function.from_callback(self.store, fn, backend=backend) for fn in (value, check, pair)]
        exports = wasmtime.Instance(self.store, module, hosts).exports(self.store)
        self.sum = wasmjit.typed(self.store, exports["sum"], backend=backend)
        self.visit = wasmjit.typed(self.store, exports["visit"], backend=backend)
        self.pair = wasmjit.typed(self.store, exports["pair"], backend=backend)
        self.trap = wasmjit.typed(self.store, exports["trap"], backend=backend)
        self.stock_visit = exports["visit"]


def expected_sum(tid: int, n: int) -> int:
    return sum(tid * 1_000_000 + i for i in range(n))


def run_threads(target: Callable[[int], None], count: int = THREADS) -> None:
    """Run ``target(tid)`` on ``count`` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: Dict[int, BaseException] = {}

    def main(tid: int) -> None:
        try:
            barrier.wait()
            target(tid)
        except BaseException as exc:  # reported below, with the thread id
            failures[tid] = exc

    threads = [threading.Thread(target=main, args=(tid,), name=f"wasmjit-{tid}") for tid in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), f"{thread.name} hung"
    if failures:
        tid, exc = sorted(failures.items())[0]
        raise AssertionError(f"thread {tid} failed ({len(failures)} failed in all): {exc!r}") from exc


@pytest.fixture(scope="module")
def shared() -> Tuple[wasmtime.Engine, wasmtime.Module]:
    engine = wasmtime.Engine()
    return engine, wasmtime.Module(engine, WAT)


#: wasmtime-py's externref slab (which wasmjit shares, so that either side can read
#: the other's externrefs) is a free list that threads corrupt before 50.0.
SLAB_IS_THREAD_SAFE = int(importlib.metadata.version("wasmtime").split(".")[0]) >= 50


@pytest.mark.skipif(
    not SLAB_IS_THREAD_SAFE,
    reason="externrefs from several threads need wasmtime-py >= 50 (its externref slab is not thread-safe before)",
)
def test_concurrent_results_and_exceptions(shared: Tuple[wasmtime.Engine, wasmtime.Module]) -> None:
    """Typed calls return thread-specific values; each thread catches exactly its own exceptions."""
    engine, module = shared

    def body(tid: int) -> None:
        worker = Worker(engine, module, tid + 1, BACKENDS[tid % len(BACKENDS)])
        token = object()
        for round_ in range(ROUNDS):
            worker.round = round_
            n = 50 + (tid * 7 + round_) % 50
            assert worker.sum(worker.tid, n) == expected_sum(worker.tid, n)
            # Raise somewhere in the middle of a loop of callbacks.
            worker.raise_at = (round_ * 13 + tid) % n
            caller: Callable[..., Any] = worker.visit
            if round_ % 3 == 2:
                caller = lambda *a, w=worker: w.stock_visit(w.store, *a)  # noqa: E731
            with pytest.raises(ThreadFailure) as info:
                caller(worker.tid, n)
            assert info.value is worker.raised[-1], "another exception object arrived"
            assert info.value.tid == worker.tid and info.value.round == round_
            worker.raise_at = -1
            caller(worker.tid, n)  # no exception left over from the previous round
            obj, x = worker.pair(token, float(round_ + tid))
            assert obj is token and x == 2.0 * (round_ + tid)
            # A genuine trap is a Trap, never somebody else's parked exception.
            with pytest.raises(wasmtime.Trap):
                worker.trap(1)
            assert worker.trap(0) == 7
        assert not worker.wrong, worker.wrong[:5]
        assert len(worker.raised) == ROUNDS
        assert take_pending() is None, "an exception stayed parked on this thread"
        worker.store.close()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        run_threads(body)
    finally:
        sys.setswitchinterval(previous)


def test_concurrent_registration(shared: Tuple[wasmtime.Engine, wasmtime.Module]) -> None:
    """Threads building functions of the same new signatures at once all get working trampolines."""
    engine, _ = shared
    # A signature no other test uses, so its templates are generated here, concurrently.
    wat = """
    (module
      (import "host" "f" (func $f (param f64 i32 externref i64 f32) (result i64 externref f64 i32)))
      (func (export "run") (param f64 i32 externref i64 f32) (result i64 externref f64 i32)
        (call $f (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4))))
    """
    module = wasmtime.Module(engine, wat)
    ty = module.imports[0].type

    def make_callback(tid: int, round_: int) -> Callable[..., Any]:
        def f(a, b, c, d, e):  # type: ignore[no-untyped-def]  # type= decides
            return d + tid, c, a + e, b - round_

        return f

    def body(tid: int) -> None:
        for round_ in range(10):
            store = wasmtime.Store(engine)
            backend = BACKENDS[(tid + round_) % len(BACKENDS)]
            marker = (tid, round_)

            host = wasmjit.Function.from_callback(store, make_callback(tid, round_), type=ty, backend=backend)
            run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)
            got = run(1.5, 10, marker, 100, 0.25)
            assert got[0] == 100 + tid and got[1] is marker and got[2] == 1.75 and got[3] == 10 - round_
            store.close()

    run_threads(body)


def test_exception_slot_is_per_thread(shared: Tuple[wasmtime.Engine, wasmtime.Module]) -> None:
    """An exception parked while one thread is inside wasm never surfaces in another thread.

    Thread A raises from a callback while thread B is blocked *inside* a
    callback of its own; B then traps.  B must see its Trap and A its own
    exception, whatever the interleaving.
    """
    engine, module = shared
    inside_b = threading.Event()
    a_raised = threading.Event()
    outcomes: Dict[str, Any] = {}

    def thread_a() -> None:
        worker = Worker(engine, module, 1, "reflect")
        inside_b.wait(timeout=30)
        worker.raise_at = 0
        try:
            worker.visit(1, 3)
        except ThreadFailure as exc:
            outcomes["a"] = exc is worker.raised[-1]
        a_raised.set()
        worker.store.close()

    def thread_b() -> None:
        store = wasmtime.Store(engine)

        def value(tid: i32, i: i64) -> i64:
            inside_b.set()
            a_raised.wait(timeout=30)  # A parks and re-raises while B is inside wasm
            return 5

        def check(tid: i32, i: i32) -> None:
            pass

        def pair(obj: externref, x: f64) -> Tuple[externref, f64]:
            return obj, x

        hosts = [wasmjit.Function.from_callback(store, fn, backend="bytecode") for fn in (value, check, pair)]
        exports = wasmtime.Instance(store, module, hosts).exports(store)
        outcomes["b_sum"] = wasmjit.typed(store, exports["sum"])(2, 1)
        try:
            wasmjit.typed(store, exports["trap"])(1)
        except BaseException as exc:
            outcomes["b_trap"] = type(exc)
        store.close()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert outcomes == {"a": True, "b_sum": 5, "b_trap": wasmtime.Trap}


THREADED = """
(module
  (import "" "h" (func $h (param i32 i64) (result i64)))
  (func (export "go") (param i32 i64) (result i64)
    (i64.add (call $h (local.get 0) (local.get 1)) (i64.const 1))))
"""


class ThreadError(Exception):
    def __init__(self, thread: int, iteration: int) -> None:
        super().__init__(f"t{thread}-{iteration}")
        self.thread = thread
        self.iteration = iteration


def test_concurrent_exceptions_stay_on_their_thread(backend: str) -> None:
    """Threads raising from callbacks at once each get their own exception back.

    The same object, with its own message, through stock ``Func.__call__`` and
    typed calls alike; the results in between are right, and nothing stays
    parked in any thread.
    """
    threads = 4
    iterations = 300
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, THREADED)  # compiled once, instantiated per thread
    barrier = threading.Barrier(threads)
    problems: List[str] = []

    def worker(index: int) -> None:
        try:
            store = wasmtime.Store(engine)
            mine: List[ThreadError] = []

            def callback(i: i32, token: i64) -> i64:
                if i % 2:
                    error = ThreadError(index, i)
                    mine.append(error)
                    raise error
                return token * 2

            host = wasmjit.Function.from_callback(store, callback, backend=backend)
            go = wasmtime.Instance(store, module, [host]).exports(store)["go"]
            typed_go = wasmjit.typed(store, go, backend=backend)
            barrier.wait()
            for i in range(iterations):
                token = index * 1_000_000 + i
                stock = i % 4 in (1, 2)  # raising and returning, through each path
                try:
                    result = go(store, i, token) if stock else typed_go(i, token)
                except ThreadError as exc:
                    if not i % 2:
                        problems.append(f"thread {index} iteration {i}: unexpected {exc!r}")
                    elif exc is not mine[-1] or (exc.thread, exc.iteration, str(exc)) != (index, i, f"t{index}-{i}"):
                        problems.append(f"thread {index} iteration {i}: got {exc.args}, expected its own")
                except BaseException as exc:  # pragma: no cover - reported below
                    problems.append(f"thread {index} iteration {i}: {exc!r}")
                else:
                    if i % 2:
                        problems.append(f"thread {index} iteration {i}: no exception")
                    elif result != token * 2 + 1:
                        problems.append(f"thread {index} iteration {i}: {result} != {token * 2 + 1}")
            if take_pending() is not None:
                problems.append(f"thread {index}: an exception stayed parked")
            store.close()
        except BaseException as exc:  # pragma: no cover - reported below
            problems.append(f"thread {index} crashed: {exc!r}")

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)
    assert not any(thread.is_alive() for thread in workers)
    assert problems == []
