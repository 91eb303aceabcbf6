"""A restricted interpreter, for real: the differential check on the reflect backend.

Each check runs in a fresh interpreter that installs an audit hook refusing
``compile``, ``exec`` and ``code.__new__`` after its imports and before the
first use of wasmjit (``wasmjit.probe()`` runs lazily, at first use).  The
child then runs a compact version of the differential suite
(tests/test_fuzz_differential.py): fixed signatures covering every kind and
seeded random ones, host functions and typed calls on ``reflect`` (chosen
by default, since the probe finds the generators forbidden) and on the IR's
reference interpreter (tests/ir_oracle.py, which generates no code either)
against stock wasmtime-py, and checks that nothing after the probe even
tried to generate code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Tuple

from test_fuzz_differential import usable_kinds

TESTS = os.path.dirname(os.path.abspath(__file__))

PRELUDE = r"""
import random, sys
sys.path.insert(0, {tests!r})
import wasmtime, wasmjit
import test_fuzz_differential as d
{preimports}

FORBIDDEN = frozenset(("compile", "exec", "code.__new__"))
blocked = []

def hook(event, args):
    if event in FORBIDDEN:
        blocked.append(event)
        raise RuntimeError(f"restricted interpreter: {{event}} is forbidden")

sys.addaudithook(hook)
KINDS = tuple({kinds!r})
"""

DIFFERENTIAL = r"""
probe = wasmjit.probe()             # the first use of wasmjit
assert probe["reflect"] is None, probe
assert probe["bytecode"] and probe["source"], probe
after_probe = len(blocked)
assert after_probe > 0, "the probe did not try to generate code"

# Default choice: reflect, for host functions and typed calls alike.
store = wasmtime.Store()
def add(a: wasmjit.i32, b: wasmjit.i64) -> wasmjit.i64:
    return a + b
host = wasmjit.Function.from_callback(store, add)
assert host.backend == "reflect", host.backend
call = wasmjit.typed(store, host)
assert call.backend == "reflect" and call(2, 3) == 5
for backend in ("bytecode", "source"):
    try:
        wasmjit.Function.from_callback(store, add, backend=backend)
    except wasmjit.DynamicCodeUnavailable:
        pass
    else:
        raise AssertionError(f"backend={{backend!r}} worked in a restricted interpreter")
try:
    wasmjit.typed(store, host, dynamic_code=True)
except wasmjit.DynamicCodeUnavailable:
    pass
else:
    raise AssertionError("dynamic_code=True worked in a restricted interpreter")
store.close()

rng = random.Random({seed})
cases = paths = 0
for sig in d.FIXED_SIGS:
    if "v128" not in KINDS and sig.has_v128:
        sig = d.Sig(tuple(k for k in sig.params if k != "v128"), tuple(k for k in sig.results if k != "v128"),
                    sig.caller, sig.declare, sig.tuple1, sig.typed_signature)
    for _ in range(3):
        paths += d.run_case(d.random_case(rng, sig), backends=("reflect", "oracle"))
        cases += 1
for _ in range({random_cases}):
    paths += d.run_case(d.random_case(rng, kinds=KINDS), backends=("reflect", "oracle"))
    cases += 1
assert len(blocked) == after_probe, f"code generation attempted after the probe: {{blocked[after_probe:]}}"
print(f"OK {{cases}} cases {{paths}} paths; the probe was refused {{after_probe}} time(s)")
"""

STRING_ANNOTATIONS = r"""
# A module written with ``from __future__ import annotations`` has string
# annotations; resolving them must not need compile() or exec().
namespace = {{"wasmjit": wasmjit, "wasmtime": wasmtime}}
from wasmjit import i32, i64, f64, externref

def mix(a: "i32", b: "i64", c: "f64", d: "externref") -> "tuple[externref, f64, i64, i32]":
    return d, c * 2, b - 1, a + 1

def with_caller(caller: "wasmtime.Caller", x: "wasmjit.i32") -> "wasmjit.i32":
    return x + 1

store = wasmtime.Store()
try:
    host = wasmjit.Function.from_callback(store, mix)
    other = wasmjit.Function.from_callback(store, with_caller)
except BaseException as exc:
    print(f"FAILED: {{type(exc).__name__}}: {{exc}}; refused: {{blocked}}")
    sys.exit(6)
token = object()
assert wasmjit.typed(store, host)(1, 2, 0.25, token) == (token, 0.5, 1, 2)
assert wasmjit.typed(store, other)(41) == 42
print("OK")
"""


#: What wasmjit may import lazily.  Importing a module runs its code through
#: ``exec`` (an audited event), so a restricted interpreter imports these
#: before it installs its hook, like any other dependency.
PREIMPORTS = "import bytecode, dis, linecache, inspect, typing"


def run_child(body: str, preimports: str = PREIMPORTS, **fields: object) -> Tuple[int, str, str]:
    script = PRELUDE.format(tests=TESTS, kinds=usable_kinds(), preimports=preimports) + body.format(**fields)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_reflect_differential_in_a_restricted_interpreter() -> None:
    code, out, err = run_child(DIFFERENTIAL, seed=20240611, random_cases=40)
    assert code == 0 and out.startswith("OK"), f"exit {code}\n{out}\n{textwrap.shorten(err, 4000)}"
    print(out.strip())


def test_string_annotations_in_a_restricted_interpreter() -> None:
    """``from __future__ import annotations`` style callbacks register without compile/exec."""
    code, out, err = run_child(STRING_ANNOTATIONS)
    assert code == 0 and out.startswith("OK"), f"exit {code}\n{out}\n{err[-3000:]}"


LAZY_IMPORT = r"""
# The hook went in before wasmjit's lazy imports (the bytecode package):
# the probe must report the generators unavailable, not fail, and the
# reflect backend must work.
store = wasmtime.Store()
def add(a: wasmjit.i32, b: wasmjit.i32) -> wasmjit.i32:
    return a + b
try:
    host = wasmjit.Function.from_callback(store, add)
except BaseException as exc:
    print(f"FAILED: {{type(exc).__name__}}: {{exc}}")
    sys.exit(7)
assert host.backend == "reflect", host.backend
assert wasmjit.typed(store, host)(2, 3) == 5
print("OK", wasmjit.probe())
"""


def test_hook_installed_before_lazy_imports() -> None:
    """An interpreter that forbids ``exec`` from the start: wasmjit's own lazy imports are refused too."""
    code, out, err = run_child(LAZY_IMPORT, preimports="")
    assert code == 0 and out.startswith("OK"), f"exit {code}\n{out}\n{err[-3000:]}"
