"""Component calls in a restricted interpreter (no compile, exec or code.__new__): reflect, same values."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import dataclasses, sys
sys.path.insert(0, {root!r})
import wasmtime, wasmtime.component as C
import wasmjit, wasmjit.component as wc
from tests.component_gen import FuncT, ListT, OptionT, Prim, RecordT, component_text

ENGINE = wasmtime.Engine()
POINT = RecordT((("x", Prim("f64")), ("name", Prim("string"))))
FT = FuncT((("p", POINT), ("xs", ListT(OptionT(Prim("u32"))))), ListT(POINT))
TEXT = component_text(FT)

@dataclasses.dataclass
class Point:
    x: float
    name: str

blocked = []
def hook(event, args):
    if event in ("compile", "exec", "code.__new__"):
        blocked.append(event)
        raise RuntimeError(f"restricted interpreter: {{event}} is forbidden")
sys.addaudithook(hook)

component = C.Component(ENGINE, TEXT)
linker = C.Linker(ENGINE)
def host(p: Point, xs: list) -> list:
    return [p, Point(float(len(xs)), "n=" + ",".join(str(x) for x in xs))]
with linker.root() as root:
    h = wc.define_callback(root, "f", host)
store = wasmtime.Store(ENGINE)
run = linker.instantiate(store, component).get_func(store, "run")
def sig(p: Point, xs: list) -> list[Point]: ...
call = wc.typed(store, run, sig)
assert call.__wasmjit__.backend == "reflect", call.__wasmjit__.backend
out = call(Point(1.5, "é"), [1, None, 3])
assert out == [Point(1.5, "é"), Point(3.0, "n=1,None,3")], out
assert set(t.backend for t in h.templates.values()) == {{"reflect"}}
for backend in ("bytecode", "source"):
    try:
        wc.typed(store, run, sig, backend=backend)
    except wasmjit.DynamicCodeUnavailable:
        pass
    else:
        raise AssertionError(backend + " worked in a restricted interpreter")
assert blocked, "nothing tried to generate code"
print("ok", len(blocked))
"""


def test_component_calls_in_a_restricted_interpreter_use_reflect() -> None:
    code = textwrap.dedent(CHILD.format(root=ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok"), done.stdout


SWEEP = r"""
import sys
sys.path.insert(0, {root!r})
import wasmtime, wasmtime.component as C
import wasmjit.component as wc
from tests.component_gen import FuncT, Prim, component_text

ENGINE = wasmtime.Engine()
# No result: a host function that never ran cannot be caught by wasmtime's check of its result.
ft = FuncT((("a", Prim("u32")),), None)
component = C.Component(ENGINE, component_text(ft))
linker = C.Linker(ENGINE)
calls = []
with linker.root() as root:
    wc.define_callback(root, "f", calls.append, backend={backend!r})
store = wasmtime.Store(ENGINE)
func = linker.instantiate(store, component).get_func(store, "run")
typed = wc.typed(store, func, backend={backend!r})

def run():
    before = len(calls)
    typed(21)
    return 42 if len(calls) == before + 1 and calls[-1] == 21 else "the host function did not run"

def stock():
    before = len(calls)
    func(store, 21)
    return 42 if len(calls) == before + 1 and calls[-1] == 21 else "the host function did not run"


def at_depth(d, call):
    return at_depth(d - 1, call) if d > 0 else call()

sys.setrecursionlimit(200)
outcomes = set()
for call in (run, stock):
    for d in range(120, 200):
        try:
            r = at_depth(d, call)
        except RecursionError:
            outcomes.add("RecursionError")
            continue
        except Exception as exc:  # stock's own conversion at the limit: ctypes.ArgumentError
            outcomes.add(type(exc).__name__)
            continue
        outcomes.add(r)
        if r != 42:
            print("WRONG", d, r)
            raise SystemExit(1)
print("ok", sorted(map(str, outcomes)))
"""


@pytest.mark.parametrize("backend", ["bytecode", "source", "reflect"])
def test_component_host_functions_at_the_recursion_limit_never_give_a_wrong_value(backend: str) -> None:
    code = textwrap.dedent(SWEEP.format(root=ROOT, backend=backend))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok"), done.stdout + done.stderr
    assert "RecursionError" in done.stdout and "42" in done.stdout
