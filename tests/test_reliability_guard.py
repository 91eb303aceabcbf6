"""The wasm guard shim of store-bound callbacks (issue 12, findings 1 and 3).

A trampoline that cannot start (its frame refused at the recursion limit, a
profiler raising on its 'call' event) must make the call into wasm raise,
never return the parameters left in the slots as results.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import wasmtime

import wasmjit
from wasmjit import i32
from wasmjit.boundary import errors, guard
from wasmjit.model.kinds import Kind

WAT = """(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1000) (call $cb (local.get 0)))))"""


def double(n: i32) -> i32:
    return n * 2


def with_caller(caller: wasmtime.Caller, n: i32) -> i32:
    return n * 2


def test_store_bound_callbacks_without_a_caller_are_guarded(store: wasmtime.Store, backend: str) -> None:
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    plan = host._prepared.plan
    assert plan.guarded and plan.slots == 2 and plan.flag_offset == 16
    assert plan.host_kinds == ((Kind.I32, Kind.I32), (Kind.I32, Kind.I32))
    # The user's Func is the shim's export: the signature's own type.
    ty = host.type(store)
    assert [str(t) for t in ty.params] == ["i32"] and [str(t) for t in ty.results] == ["i32"]
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host])
    run = wasmjit.typed(store, instance.exports(store)["run"])
    assert run(21) == 1042
    assert host(store, 4) == 8


def test_callbacks_with_a_caller_and_linker_callbacks_are_not_guarded(store: wasmtime.Store) -> None:
    assert not wasmjit.Function.from_callback(store, with_caller)._prepared.plan.guarded
    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "cb", double)
    run = linker.instantiate(store, wasmtime.Module(store.engine, WAT)).exports(store)["run"]
    assert run(store, 21) == 1042


@pytest.mark.parametrize(
    ("params", "results"),
    [((), ()), ((Kind.I32,), ()), ((), (Kind.I64,)), ((Kind.F32,), (Kind.I32, Kind.F64, Kind.I64))],
)
def test_the_shim_compiles_for_every_layout(params: "tuple[Kind, ...]", results: "tuple[Kind, ...]") -> None:
    engine = wasmtime.Engine()
    module = guard.shim_module(engine, params, results)
    assert guard.shim_module(engine, params, results) is module
    (export,) = module.exports
    assert export.name == "f"
    # A second engine gets the same shim through the serialized artifact.
    assert guard.shim_module(wasmtime.Engine(), params, results).exports[0].name == "f"


def test_an_exact_path_result_sets_the_flag(store: wasmtime.Store, backend: str) -> None:
    def as_bool(n: i32) -> i32:
        return n > 0  # type: ignore[return-value]  # a bool: the exact path stores it

    host = wasmjit.Function.from_callback(store, as_bool, backend=backend)
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host])
    run = wasmjit.typed(store, instance.exports(store)["run"])
    assert run(5) == 1001
    assert errors.take_pending() is None


HOOK_SCRIPT = r"""
import sys
import wasmtime, wasmjit
from wasmjit import i32
from wasmjit.boundary.errors import CallbackNotStarted

backend, entry = sys.argv[1:3]
WAT = '''(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1000) (call $cb (local.get 0)))))'''
store = wasmtime.Store()
if entry == "install":
    wasmjit.install()
    ty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    host = wasmtime.Func(store, ty, lambda n: n * 2)
else:
    def cb(n: i32) -> i32:
        return n * 2
    host = wasmjit.Function.from_callback(store, cb, backend=backend)
export = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host]).exports(store)["run"]
run = wasmjit.typed(store, export, backend=backend) if entry == "typed" else (lambda x: export(store, x))
prepared = host._prepared if hasattr(host, "_prepared") else host._wasmjit_prepared
assert prepared.plan.guarded
trampoline = prepared.owner.trampoline.__code__  # (bytecode's constants are not hashable)

class Hooked(Exception):
    pass

def hook(frame, event, arg):
    if event == "call" and frame.f_code is trampoline:
        raise Hooked()

sys.setprofile(hook)
try:
    outcome = run(21)
except BaseException as exc:
    outcome = exc
finally:
    sys.setprofile(None)
# The trampoline's own try covers its entry: the hook's exception itself (not CallbackNotStarted).
ok = isinstance(outcome, Hooked)
print("OK" if ok and run(21) == 1042 else "WRONG", repr(outcome), flush=True)
"""


@pytest.mark.parametrize("entry", ["typed", "stock", "install"])
def test_a_trampoline_that_cannot_start_makes_the_call_raise(backend: str, entry: str) -> None:
    """A profiler raising on the trampoline's 'call' event: the call raises the profiler's exception."""
    if entry == "install" and backend != "bytecode":
        pytest.skip("install() picks its own backend")
    proc = subprocess.run(
        [sys.executable, "-c", HOOK_SCRIPT, backend, entry], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), (proc.stdout, proc.stderr[-2000:])


TRACE_SCRIPT = r"""
import sys, wasmtime, wasmjit
from wasmjit import i32
backend, mode = sys.argv[1], sys.argv[2]
store = wasmtime.Store()
WAT = '''(module (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.add (i32.const 1000) (call $cb (local.get 0)))))'''
def cb(n: i32) -> i32:
    doubled = n * 2
    return doubled
host = wasmjit.Function.from_callback(store, cb, backend=backend)
run = wasmjit.typed(store, wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host]).exports(store)["run"])
trampoline = host._prepared.owner.trampoline.__code__

class Quit(Exception):
    pass

seen = []
def tracer(frame, event, arg):
    if frame.f_code is cb.__code__ and event == "line":
        seen.append(frame.f_lineno)
    if mode == "raise-call" and event == "call" and frame.f_code is trampoline:
        raise Quit()
    if mode == "raise-line" and event == "line" and frame.f_code is trampoline:
        raise Quit()
    return tracer

outcomes = []
sys.settrace(tracer)
try:
    for _ in range(3):
        try:
            outcomes.append(run(21))
        except BaseException as exc:
            outcomes.append(type(exc).__name__)
finally:
    sys.settrace(None)
after = run(21)
print(mode, outcomes, len(seen) > 0, after)
"""


@pytest.mark.parametrize("mode", ["quiet", "raise-call", "raise-line"])
def test_tracers_see_callbacks_and_raising_tracers_never_give_a_wrong_value(backend: str, mode: str) -> None:
    """sys.settrace as debuggers use it: a quiet tracer sees the callback's body run; one that
    raises at the trampoline's entry or first line makes the call raise (never a value
    computed from the parameters left in the slots), and the next call is right."""
    proc = subprocess.run(
        [sys.executable, "-c", TRACE_SCRIPT, backend, mode], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split(maxsplit=1)[1].rsplit(maxsplit=2)
    outcomes, saw_body, after = eval(words[0]), words[1] == "True", int(words[2])  # our own output
    assert after == 1042
    if mode == "quiet":
        assert outcomes == [1042] * 3 and saw_body
    else:
        # The hook's own exception, or the guard's: never 1021 (the parameter read back as the result).
        assert all(o == 1042 or o in ("Quit", "CallbackNotStarted") for o in outcomes), outcomes
        assert 1021 not in outcomes


COVERAGE_SCRIPT = r"""
import sys, wasmtime, wasmjit
from wasmjit import i32
store = wasmtime.Store()
WAT = '''(module (import "host" "cb" (func $cb (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (call $cb (local.get 0))))'''
def cb(n: i32) -> i32:
    if n > 10:
        return n - 10  # BIG
    return n + 1  # SMALL
host = wasmjit.Function.from_callback(store, cb, backend=sys.argv[1])
run = wasmjit.typed(store, wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host]).exports(store)["run"])
assert [run(n) for n in (1, 2, 30)] == [2, 3, 20]
"""


def test_coverage_measures_callback_bodies(backend: str, tmp_path: "pathlib.Path") -> None:
    """coverage.py running a program of callbacks counts the lines of their bodies."""
    coverage = pytest.importorskip("coverage")
    script = tmp_path / "covered.py"
    script.write_text(COVERAGE_SCRIPT)
    data = tmp_path / ".coverage"
    proc = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}", str(script), backend],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = coverage.Coverage(data_file=str(data))
    measured.load()
    executed = set(measured.get_data().lines(str(script)) or ())
    lines = COVERAGE_SCRIPT.splitlines()
    big = next(i for i, line in enumerate(lines, 1) if "# BIG" in line)
    small = next(i for i, line in enumerate(lines, 1) if "# SMALL" in line)
    assert {big, small} <= executed
