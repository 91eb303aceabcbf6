"""Component calls in a restricted interpreter (no compile, exec or code.__new__): reflect, same values."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
