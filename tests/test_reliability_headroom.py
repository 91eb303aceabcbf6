"""Unguarded callbacks at the recursion limit (issue 12, finding 1).

A callback that takes a ``Caller`` or guest data, or is defined on a
``Linker`` (``define_callback``, ``install()``'s ``define_func``), cannot
stand behind the guard shim.  Entered within a few frames of the recursion
limit, its trampoline's frame was refused, ctypes returned an undefined trap
pointer, and wasm read the parameter left in the slot as the result
(``1016`` below instead of ``1032``), or the process crashed.  Now every
entry into wasm keeps room for such a trampoline (``boundary/headroom.py``):
at every depth the call returns the right value or raises
``RecursionError``.  Each sweep runs in a subprocess (a crash is a failure,
not a lost test run).
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from wasmjit.boundary import headroom

SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32

backend, kind = sys.argv[1:3]
WAT = '''(module
  (import "host" "cb" (func $cb (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func (export "run") (param i32) (result i32)
    (i32.add (i32.const 1000) (call $cb (local.get 0) (i32.const 5)))))'''
store = wasmtime.Store()
module = wasmtime.Module(store.engine, WAT)
ty = wasmtime.FuncType([wasmtime.ValType.i32()] * 2, [wasmtime.ValType.i32()])

def with_caller(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
    return a * 2

def guest(text: wasmjit.Bytes) -> i32:
    return len(text) * 2

def plain(a: i32, b: i32) -> i32:
    return a * 2

if kind == "linker":
    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "cb", plain, backend=backend)
    instance = linker.instantiate(store, module)
elif kind == "install-caller":
    wasmjit.install()
    host = wasmtime.Func(store, ty, lambda caller, a, b: a * 2, access_caller=True)
    instance = wasmtime.Instance(store, module, [host])
elif kind == "install-linker":
    wasmjit.install()
    linker = wasmtime.Linker(store.engine)
    linker.define_func("host", "cb", ty, lambda a, b: a * 2)
    instance = linker.instantiate(store, module)
else:
    callback = {"caller": with_caller, "guest": guest}[kind]
    host = wasmjit.Function.from_callback(store, callback, backend=backend)
    instance = wasmtime.Instance(store, module, [host])
export = instance.exports(store)["run"]
expected = 1010 if kind == "guest" else 1032
entries = {"typed": wasmjit.typed(store, export, backend=backend), "stock": lambda x: export(store, x)}
limit = 200
for entry, run in entries.items():
    assert run(16) == expected
    def at_depth(d):
        return at_depth(d - 1) if d > 0 else run(16)
    outcomes = {}
    wrong = []
    sys.setrecursionlimit(limit)
    try:
        for d in range(limit - 100, limit):
            try:
                value = at_depth(d)
                key = "ok" if value == expected else "wrong"
                if value != expected:
                    wrong.append((d, value))
            except RecursionError:
                key = "RecursionError"
            except Exception as exc:  # wasmtime-py's own ctypes calls at the limit: ArgumentError
                key = type(exc).__name__
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        sys.setrecursionlimit(1000)
    print(entry, {"outcomes": outcomes, "wrong": wrong[:3], "after": run(16) == expected}, flush=True)
"""


@pytest.mark.parametrize("kind", ["caller", "guest", "linker"])
def test_unguarded_callbacks_at_every_depth_are_right_or_raise(backend: str, kind: str) -> None:
    check_sweep(backend, kind)


@pytest.mark.parametrize("kind", ["install-caller", "install-linker"])
def test_install_unguarded_callbacks_at_every_depth_are_right_or_raise(kind: str) -> None:
    check_sweep("bytecode", kind)


def check_sweep(backend: str, kind: str) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, backend, kind], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["typed", "stock"], lines
    for line in lines:
        found = ast.literal_eval(line.split(maxsplit=1)[1])  # our own output
        assert found["wrong"] == [] and found["after"], line
        assert "wrong" not in found["outcomes"] and found["outcomes"].get("ok", 0) > 50, line
        assert set(found["outcomes"]) <= {"ok", "RecursionError", "ArgumentError"}, line


UNBOUNDED = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32

backend = sys.argv[1]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1) (call $cb (local.get 0)))))''')
run = None

def again(caller: wasmtime.Caller, n: i32) -> i32:
    return run(n + 1) if n < 100000 else n  # re-enters wasm until the recursion limit

host = wasmjit.Function.from_callback(store, again, backend=backend)
run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)
for limit in (120, 400, 1000):
    sys.setrecursionlimit(limit)
    try:
        outcome = repr(run(0))
    except (RecursionError, wasmtime.Trap) as exc:  # (wasm's own stack may run out first)
        outcome = type(exc).__name__
    finally:
        sys.setrecursionlimit(1000)
    print(limit, outcome, flush=True)
"""


def test_unbounded_reentrancy_through_an_unguarded_callback_raises(backend: str) -> None:
    """A Caller callback that calls back into wasm without end: RecursionError (or wasm's own
    "call stack exhausted" trap, whichever stack runs out first), never a value."""
    proc = subprocess.run([sys.executable, "-c", UNBOUNDED, backend], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-2000:])
    words = proc.stdout.split()
    assert words[0::2] == ["120", "400", "1000"], words
    assert words[1:5:2] == ["RecursionError", "RecursionError"] and words[5] in ("RecursionError", "Trap"), words


def test_the_frame_counter_is_calibrated_here() -> None:
    """The thread state's counter is found on every supported CPython, and tracks Python frames."""
    assert headroom.STATE.available, headroom.STATE.why

    def at_depth(n: int) -> int:
        return at_depth(n - 1) if n else headroom.remaining()

    assert at_depth(3) - at_depth(13) == 10
    assert 0 < headroom.remaining() <= sys.getrecursionlimit()


def test_only_unguarded_callbacks_arm_the_check() -> None:
    script = (
        "import wasmtime, wasmjit\n"
        "from wasmjit import i32\n"
        "from wasmjit.boundary import headroom\n"
        "store = wasmtime.Store()\n"
        "def plain(a: i32) -> i32: return a\n"
        "def with_caller(caller: wasmtime.Caller, a: i32) -> i32: return a\n"
        "wasmjit.Function.from_callback(store, plain)\n"
        "print(headroom.STATE.armed)\n"
        "wasmjit.Function.from_callback(store, with_caller)\n"
        "print(headroom.STATE.armed)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "True"], proc.stderr[-2000:]
