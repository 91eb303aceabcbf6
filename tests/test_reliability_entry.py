"""A hook raising as a trampoline starts or returns (issue 12, findings 1 and 3).

Every callback trampoline's ``try`` covers its own entry and (CPython 3.12+)
its final ``return`` (``Program.try_covers_entry``), so a ``sys.settrace`` or
``sys.setprofile`` hook that raises on the trampoline's 'call' or 'return'
event lands in the trampoline's handler: the call into wasm raises *the
hook's own exception*, for every kind of callback - guarded ones, those that
take a ``Caller`` or guest data (no guard shim can stand in front of them),
``Linker`` definitions, and ``install()``'s - on every backend, through typed
calls and stock ``Func.__call__``.

Before, an unguarded trampoline let the exception escape into ctypes, which
returned an undefined trap pointer to wasmtime (a crash, or 0: a silently
wrong value), and a guarded one surfaced as ``CallbackNotStarted``.

The one window left is CPython 3.11's 'return' event (``ceval.c``
``TRACE_FUNCTION_EXIT``: ``goto exit_unwind``, no handler runs): a guarded
callback then gives its right value and the hook's exception goes to
``sys.unraisablehook``; unguarded ones are not run there (see
``docs/errors.md``).  Each scenario runs in a subprocess: before the fix,
most crashed it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32
from wasmjit.boundary import interrupts

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

def plain(a: i32, b: i32) -> i32:
    return a * 2

def with_caller(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
    assert caller["memory"] is not None
    return a * 2

def guest(text: wasmjit.Bytes) -> i32:
    return len(text) * 2

guarded = kind == "plain"
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
    host = wasmjit.Function.from_callback(store, {"plain": plain, "caller": with_caller, "guest": guest}[kind],
                                          backend=backend)
    instance = wasmtime.Instance(store, module, [host])
export = instance.exports(store)["run"]
entries = {"typed": wasmjit.typed(store, export, backend=backend), "stock": lambda x: export(store, x)}
expected = 1010 if kind == "guest" else 1032


class Hooked(Exception):
    pass


unraisable = []
sys.unraisablehook = lambda u: unraisable.append(u.exc_type.__name__)

for entry, run in entries.items():
    assert run(16) == expected
    for how in ("trace", "profile"):
        for event in ("call", "return"):
            if event == "return" and sys.version_info < (3, 12) and not guarded:
                continue  # the documented 3.11 window: a crash or a lost exception
            raised = []
            def hook(frame, ev, arg):
                if ev == event and interrupts._key(frame.f_code) in interrupts._entry_offsets and not raised:
                    raised.append(Hooked(f"{how} {ev}"))
                    raise raised[0]
                return hook if how == "trace" else None
            del unraisable[:]
            (sys.settrace if how == "trace" else sys.setprofile)(hook)
            try:
                outcome = run(16)
            except BaseException as exc:
                outcome = exc
            finally:
                sys.settrace(None)
                sys.setprofile(None)
            if not raised:
                verdict = "hook never ran"
            elif event == "return" and sys.version_info < (3, 12):
                ok = outcome == expected and unraisable == ["Hooked"]
                verdict = "ok" if ok else f"{outcome!r} {unraisable}"
            else:
                ok = outcome is raised[0] and not unraisable
                verdict = "ok" if ok else f"{outcome!r} {unraisable}"
            after = run(16)
            if after != expected:
                verdict += f"; next call {after!r}"
            print(entry, how, event, verdict, flush=True)
"""

KINDS = ["plain", "caller", "guest", "linker"]


def run_script(backend: str, kind: str) -> "list[str]":
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, kind], capture_output=True, text=True, timeout=120
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, (lines, proc.stderr[-2000:])
    return lines


@pytest.mark.parametrize("kind", KINDS)
def test_a_hook_raising_at_a_trampolines_entry_or_return_surfaces_as_itself(backend: str, kind: str) -> None:
    lines = run_script(backend, kind)
    bad = [line for line in lines if not line.endswith(" ok")]
    assert not bad, lines
    expected = 2 * 2 * (2 if sys.version_info >= (3, 12) or kind == "plain" else 1)
    assert len(lines) == expected, lines


@pytest.mark.parametrize("kind", ["install-caller", "install-linker"])
def test_install_callbacks_with_a_raising_hook(kind: str) -> None:
    """``install()``'s ``Func(..., access_caller=True)`` and ``Linker.define_func`` paths (unguarded)."""
    lines = run_script("bytecode", kind)
    bad = [line for line in lines if not line.endswith(" ok")]
    assert not bad, lines
    assert len(lines) == 2 * 2 * (2 if sys.version_info >= (3, 12) else 1), lines


SIGNAL_SCRIPT = r"""
import os, signal, sys, threading
import wasmtime, wasmjit
from wasmjit import i32

backend, kind = sys.argv[1:3]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''(module (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    (i32.add (i32.const 1000) (call $cb (i32.const 16)))))''')
def plain(n: i32) -> i32:
    return n * 2
def with_caller(caller: wasmtime.Caller, n: i32) -> i32:
    return n * 2
host = wasmjit.Function.from_callback(store, plain if kind == "plain" else with_caller, backend=backend)
run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)
assert run(1) == 1032

class Term(Exception):
    pass

def handler(signum, frame):
    raise Term()

signal.signal(signal.SIGUSR1, handler)
# The signal arrives while wasm loops; Python handles it at the trampoline's entry.
threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
try:
    outcome = run(600_000_000)
except BaseException as exc:
    outcome = exc
print(type(outcome).__name__, run(1), flush=True)
"""


@pytest.mark.parametrize("kind", ["plain", "caller"])
def test_a_custom_signal_handler_raising_at_a_trampolines_entry(backend: str, kind: str) -> None:
    """A raising handler of another signal than SIGINT, run at the trampoline's entry: its
    exception surfaces on every backend (before: source and reflect crashed or raised
    CallbackNotStarted; the docs' old 'known limitation')."""
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_SCRIPT, backend, kind], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.split() == ["Term", "1032"], (proc.stdout, proc.stderr[-2000:])


FAILED_RETURN_SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32
from wasmjit.boundary import interrupts

backend, kind = sys.argv[1:3]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''(module (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1000) (call $cb (local.get 0)))))''')
def failing(n: i32) -> i32:
    raise ValueError("the callback failed")
def failing_with_caller(caller: wasmtime.Caller, n: i32) -> i32:
    raise ValueError("the callback failed")
def exact_with_caller(caller: wasmtime.Caller, n: i32) -> i32:
    return True  # a bool: stored by the exact path, in the handler
callback = {"plain-fails": failing, "caller-fails": failing_with_caller, "caller-exact": exact_with_caller}[kind]
host = wasmjit.Function.from_callback(store, callback, backend=backend)
run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)
raised = []
def hook(frame, event, arg):
    if event == "return" and interrupts._key(frame.f_code) in interrupts._entry_offsets and not raised:
        raised.append(1)
        raise KeyError("hook")
unraisable = []
sys.unraisablehook = lambda u: unraisable.append(u.exc_type.__name__)
sys.setprofile(hook)
try:
    outcome = run(5)
except BaseException as exc:
    outcome = exc
sys.setprofile(None)
print(type(outcome).__name__, unraisable, flush=True)
"""


@pytest.mark.parametrize("kind", ["plain-fails", "caller-fails", "caller-exact"])
def test_a_hook_raising_as_the_handler_returns(backend: str, kind: str) -> None:
    """A hook raising at the 'return' of a trampoline whose fast path failed (the callback
    raised, or its result took the exact path): after the handler the trampoline returns
    through a second try whose return is covered (3.12+), so the hook's exception surfaces.
    On 3.11 (the documented window) a guarded callback still raises its own exception."""
    if sys.version_info < (3, 12) and kind != "plain-fails":
        pytest.skip("CPython 3.11's return event cannot be caught (docs/errors.md): an unguarded trampoline crashes")
    proc = subprocess.run(
        [sys.executable, "-c", FAILED_RETURN_SCRIPT, backend, kind], capture_output=True, text=True, timeout=120
    )
    expected = ["KeyError", "[]"] if sys.version_info >= (3, 12) else ["ValueError", "['KeyError']"]
    assert proc.returncode == 0 and proc.stdout.split() == expected, (proc.stdout, proc.stderr[-2000:])


MONITORING_SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32
from wasmjit.boundary import interrupts

backend, kind = sys.argv[1:3]
store = wasmtime.Store()
module = wasmtime.Module(store.engine, '''(module (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1000) (call $cb (local.get 0)))))''')
def plain(n: i32) -> i32:
    return n * 2
def with_caller(caller: wasmtime.Caller, n: i32) -> i32:
    return n * 2
host = wasmjit.Function.from_callback(store, plain if kind == "plain" else with_caller, backend=backend)
run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)

class Hooked(Exception):
    pass

mon = sys.monitoring
TOOL = 3
mon.use_tool_id(TOOL, "wasmjit-test")
events = mon.events
# (bytecode trampolines start with RESUME 2: PY_RESUME, not PY_START)
for name, event in (("start", events.PY_START | events.PY_RESUME), ("return", events.PY_RETURN)):
    raised = []
    def hook(code, *args):
        if interrupts._key(code) in interrupts._entry_offsets and not raised:
            raised.append(Hooked(name))
            raise raised[0]
    for single in (events.PY_START, events.PY_RESUME, events.PY_RETURN):
        if event & single:
            mon.register_callback(TOOL, single, hook)
    mon.set_events(TOOL, event)
    try:
        outcome = run(21)
    except BaseException as exc:
        outcome = exc
    finally:
        mon.set_events(TOOL, 0)
    print(name, "ok" if raised and outcome is raised[0] and run(21) == 1042 else repr(outcome), flush=True)
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
@pytest.mark.parametrize("kind", ["plain", "caller"])
def test_a_sys_monitoring_tool_raising_at_a_trampolines_start_or_return(backend: str, kind: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MONITORING_SCRIPT, backend, kind], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.split() == ["start", "ok", "return", "ok"], (
        proc.stdout,
        proc.stderr[-2000:],
    )
