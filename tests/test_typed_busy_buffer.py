"""A typed caller's buffer is never shared by two calls at once.

A call that finds its caller's buffer busy is either re-entered from a host
callback during its own call — it goes through a sibling caller with its own
buffer — or made from another thread while a call is under way, which raises
``RuntimeError`` (wasmtime forbids using one store from two threads at once,
and that misuse must neither mix up values nor crash wasmtime).
An interrupt raised as the call into wasm returns leaves nothing behind: the
next call neither finds the buffer busy nor reads the interrupted call's trap.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import wasmtime
from conftest import sigint_handled

import wasmjit
from wasmjit import i32

WAT = """(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (local.get 0) (call $cb (local.get 0))))
  (func (export "spin_then_trap") (param $n i32) (result i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    unreachable))"""


def test_reentered_caller_keeps_every_level_apart(store, backend):
    calls = []

    def cb(n: i32) -> i32:
        calls.append(n)
        return run(n - 1) * 10 if n > 0 else 0

    instance = wasmtime.Instance(
        store, wasmtime.Module(store.engine, WAT), [wasmjit.Function.from_callback(store, cb, backend=backend)]
    )
    run = wasmjit.typed(store, instance.exports(store)["run"], backend=backend)
    # run(n) = n + 10 * run(n - 1): every level reads its own argument and result.
    assert run(4) == 4 + 10 * (3 + 10 * (2 + 10 * (1 + 10 * 0)))
    assert calls == [4, 3, 2, 1, 0]
    assert run(1) == 1 + 10 * 0  # and afterwards the buffer is free again
    assert run.__wasmjit__.failure.guard.busy is False


_THREADS = r"""
import sys, threading, time, wasmtime, wasmjit
from wasmjit import i32
backend = sys.argv[1]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, WAT)
def cb(n: i32) -> i32:
    time.sleep(0.0002)  # let the other thread in while this call is inside wasm
    return n
instance = wasmtime.Instance(store, module, [wasmjit.Function.from_callback(store, cb, backend=backend)])
run = wasmjit.typed(store, instance.exports(store)["run"], backend=backend)
wrong = []
errors = []
def worker(value):
    for _ in range(300):
        try:
            result = run(value)
        except Exception as exc:  # wasmtime may refuse; a value must never be wrong
            errors.append(type(exc).__name__)
            continue
        if result != 2 * value:
            wrong.append((value, result))
threads = [threading.Thread(target=worker, args=(v,)) for v in (1, 1000, 1000000)]
for t in threads: t.start()
for t in threads: t.join()
print(len(wrong), len(errors), wrong[:3])
"""


def test_one_caller_used_from_threads_never_returns_another_calls_result(backend, tmp_path):
    script = tmp_path / "threads.py"
    script.write_text(f"WAT = {WAT!r}\n" + _THREADS)
    done = subprocess.run([sys.executable, str(script), backend], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    wrong, _errors, sample = done.stdout.split(maxsplit=2)
    assert wrong == "0", f"{wrong} calls returned another call's result, e.g. {sample}"


def test_interrupt_as_the_call_returns_leaves_no_busy_buffer_or_stale_trap(backend):
    """SIGINT while wasm spins and then traps: Python raises it as the call returns.

    The trap the call wrote into the trap cell must not be read by the next
    call, and the buffer must not stay busy.
    """
    code = textwrap.dedent(
        f"""
        import os, signal, threading, wasmtime, wasmjit
        from wasmjit import i32
        store = wasmtime.Store()
        module = wasmtime.Module(store.engine, {WAT!r})
        def cb(n: i32) -> i32:
            return n
        instance = wasmtime.Instance(store, module, [wasmjit.Function.from_callback(store, cb)])
        exports = instance.exports(store)
        spin = wasmjit.typed(store, exports["spin_then_trap"], backend={backend!r})
        run = wasmjit.typed(store, exports["run"], backend={backend!r})
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            spin(1 << 30)
        except KeyboardInterrupt:
            outcome = "interrupt"
        except wasmtime.Trap:
            outcome = "trap"
        timer.join()
        assert spin.__wasmjit__.failure.guard.busy is False
        assert run(21) == 42
        try:
            spin(0)
        except wasmtime.Trap as trap:
            assert "unreachable" in str(trap)
        print("ok", outcome)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, preexec_fn=sigint_handled
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "interrupt"]
