"""Differential fuzzing: every backend and stock wasmtime-py agree bit for bit.

Each example is a random signature (0-16 parameters, 0-8 results, every
value kind, with or without a ``Caller``) with random values biased to the
edges.  A real WAT module exports ``run``, which forwards its parameters to
an imported host function and returns that function's results, so every
value crosses wasm -> host and host -> wasm.  The import is implemented by
``wasmjit.Function.from_callback`` on each backend (``bytecode``,
``source``, ``reflect``) and on the IR's reference interpreter (``oracle``,
tests/ir_oracle.py), and by stock ``wasmtime.Func``; ``run`` is called
through stock ``Func.__call__`` and through ``wasmjit.typed`` on each
backend and the oracle, and the host function is also called directly
(host -> host through wasmtime).  Every path must deliver to the callback,
and return to Python, exactly what a reference model predicts:

* integers arrive signed, whether sent signed or unsigned;
* f64 keeps its bit pattern (NaN payloads, signalling NaNs, -0.0, subnormals);
* f32 is rounded to single precision (too large rounds to infinity); NaN
  quietness may legitimately differ between C float conversions, so f32
  NaNs are compared with the quiet bit masked (payload and sign are kept);
* v128 is 16 bytes (stock wasmtime-py cannot pass v128: signatures with v128
  are compared across the wasmjit backends only);
* a funcref comes back as the same function, an externref as the same object;
* an exception raised by the callback reaches the caller as the same object.

Where no model says what must happen (typed calls with too few or too many
arguments or a ``wasmtime.Store`` first, callbacks returning the wrong shape
or type, values only the exact path takes: :class:`FailureCase`), every
backend and the oracle must agree: the same result, or the same exception
type with the same message, on every pair of host and caller backends.

Profiles: the default run is derandomized (fixed seed) and small; the long
profile (``pytest -m fuzz``) runs ``WASMJIT_FUZZ_EXAMPLES`` examples
(default 100,000) with a random seed.  See docs/testing.md.

The machinery here (signatures, values, the model and :func:`run_case`) does
not need Hypothesis: ``random_case`` draws the same kind of cases from a
``random.Random`` for the restricted-interpreter check, which imports this
module in a subprocess before installing its audit hook.
"""

from __future__ import annotations

import math
import os
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import wasmtime
from ir_oracle import BACKEND as ORACLE
from ir_oracle import oracle_backend
from wasm_helpers import (
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    KINDS,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    signed,
)
from wasm_helpers import U32_MAX as U32
from wasm_helpers import U64_MAX as U64
from wasm_helpers import available_backends as _available_backends
from wasm_helpers import forwarding_wat as _forwarding_wat

import wasmjit
from wasmjit import externref, f32, f64, funcref, i32, i64, v128

try:  # Hypothesis is a test dependency; the subprocess helpers work without it.
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    st = None  # type: ignore[assignment]

#: wasmjit's backends.  Not ``probe()``: restricted children import this
#: module before their first use of wasmjit, which must be the probe.
BACKENDS: Tuple[str, ...] = wasmjit.backends.BACKENDS
MARKERS: Dict[str, Any] = {
    "i32": i32,
    "i64": i64,
    "f32": f32,
    "f64": f64,
    "v128": v128,
    "funcref": funcref,
    "externref": externref,
}
MAX_PARAMS = 16
MAX_RESULTS = 8

F32_QUIET = 0x0040_0000
N_FUNCS = 3


def checked_backends() -> Tuple[str, ...]:
    """What the differential runs compare by default: every usable backend and the oracle."""
    return (*_available_backends(), ORACLE)


# Values -----------------------------------------------------------------------


I32_EDGES = (0, 1, -1, 2, I32_MIN, I32_MAX, U32, 1 << 31, I32_MIN + 1, 0x7FFF_FFFE, 0xDEAD_BEEF, True, False)
I64_EDGES = (
    0,
    1,
    -1,
    I64_MIN,
    I64_MAX,
    U64,
    1 << 63,
    I32_MIN,
    I32_MAX,
    U32,
    1 << 32,
    I64_MIN + 1,
    0xDEAD_BEEF_CAFE_F00D,
    True,
)
F64_EDGE_BITS = (
    0x0000_0000_0000_0000,  # 0.0
    0x8000_0000_0000_0000,  # -0.0
    0x7FF0_0000_0000_0000,  # inf
    0xFFF0_0000_0000_0000,  # -inf
    0x7FF8_0000_0000_0000,  # canonical quiet NaN
    0xFFF8_0000_0000_0000,  # negative quiet NaN
    0x7FF8_0000_0000_0001,  # quiet NaN with payload
    0x7FFF_FFFF_FFFF_FFFF,  # quiet NaN, all payload bits
    0x7FF0_0000_0000_0001,  # signalling NaN
    0xFFF4_0000_DEAD_BEEF,  # negative signalling NaN with payload
    0x0000_0000_0000_0001,  # smallest subnormal
    0x000F_FFFF_FFFF_FFFF,  # largest subnormal
    0x8000_0000_0000_0001,  # -smallest subnormal
    0x0010_0000_0000_0000,  # smallest normal
    0x7FEF_FFFF_FFFF_FFFF,  # largest finite
    0xFFEF_FFFF_FFFF_FFFF,  # most negative finite
    0x3FF0_0000_0000_0000,  # 1.0
)
F32_EDGE_BITS = (
    0x0000_0000,
    0x8000_0000,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0000,
    0x7FC0_0001,
    0x7FFF_FFFF,
    0x7F80_0001,  # signalling NaN (quietened by double conversion)
    0xFFA0_BEEF,
    0x0000_0001,
    0x007F_FFFF,
    0x8000_0001,
    0x0080_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
    0x3F80_0000,
)
_F32_MAX = f32_from_bits(0x7F7F_FFFF)
_F32_TINY = f32_from_bits(1)
F32_EDGE_DOUBLES = (
    0.1,
    -0.1,
    1e300,  # rounds to infinity
    -1e300,
    1e-50,  # rounds to zero
    -1e-50,
    _F32_MAX * (1 + 2.0**-25),  # just under the rounding midpoint: stays finite
    _F32_MAX * (1 + 2.0**-24),  # the midpoint: rounds (to even) to infinity
    _F32_TINY / 2,  # halfway to the smallest subnormal: rounds to zero
    _F32_TINY * 0.75,  # rounds up to the smallest subnormal
    16777217.0,  # 2**24 + 1: not representable
    f64_from_bits(0x7FF8_0000_DEAD_BEEF),  # a NaN whose low payload bits f32 drops
)
V128_EDGES = (b"\x00" * 16, b"\xff" * 16, bytes(range(16)), b"\x80" + b"\x00" * 15)


class Opaque:
    """An externref payload hostile to anything but identity."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        raise AssertionError("externref payloads must be compared by identity")

    def __hash__(self) -> int:
        raise AssertionError("externref payloads must not be hashed")

    def __bool__(self) -> bool:
        raise AssertionError("externref payloads must not be tested for truth")

    def __repr__(self) -> str:
        return "<Opaque>"


#: Factories for externref payloads; each case makes fresh objects.
EXTERN_FACTORIES: Tuple[Callable[[], Any], ...] = (
    object,
    Opaque,
    lambda: 0,
    lambda: False,
    lambda: "",
    lambda: (),
    list,
    lambda: float("nan"),
    lambda: 12345678901234567890,
    lambda: b"bytes",
    lambda: wasmtime.Store,  # a class
)


@dataclass(frozen=True)
class Ref:
    """A reference value resolved per store: ``("func", i)`` or ``("ext", i)``."""

    what: str
    index: int


@dataclass(frozen=True)
class Value:
    """One value of a case: ``raw`` is what wasmjit gets, ``plain`` what stock gets."""

    kind: str
    raw: Any
    form: str = "plain"  # how raw is presented: plain, int (for floats), bytearray, memoryview

    def present(self, env: "Env") -> Any:
        if isinstance(self.raw, Ref):
            return env.resolve(self.raw)
        if self.form == "bytearray":
            return bytearray(self.raw)
        if self.form == "memoryview":
            return memoryview(bytes(self.raw))
        return self.raw

    def stock(self, env: "Env") -> Any:
        if isinstance(self.raw, Ref):
            return env.resolve(self.raw)
        if self.kind in ("f32", "f64"):
            return float(self.raw)
        if self.kind in ("i32", "i64"):
            return int(self.raw)
        return self.raw


@dataclass(frozen=True)
class Sig:
    params: Tuple[str, ...]
    results: Tuple[str, ...]
    caller: bool = False
    #: How the wasmjit callback states its type: "type" (a FuncType and a
    #: *args callable) or "annotations" (markers on its parameters).
    declare: str = "type"
    #: With annotations and one result: ``-> tuple[kind]`` (returns a 1-tuple).
    tuple1: bool = False
    #: Whether typed() gets ``signature=Callable[[...], ...]``.
    typed_signature: bool = False

    @property
    def has_v128(self) -> bool:
        return "v128" in self.params or "v128" in self.results

    def __str__(self) -> str:
        caller = "Caller, " if self.caller else ""
        return f"({caller}{', '.join(self.params)}) -> ({', '.join(self.results)}) [{self.declare}]"


@dataclass(frozen=True)
class Case:
    sig: Sig
    args: Tuple[Value, ...]
    results: Tuple[Value, ...]
    #: The callback raises a fresh exception instead of returning.
    raises: bool = False
    #: Several results come back from the wasmjit callback as a list (exact path).
    as_list: bool = False


# The environment of one case: a store, functions to reference, objects ----------


class Env:
    def __init__(self, engine: wasmtime.Engine, n_objects: int = len(EXTERN_FACTORIES)) -> None:
        self.store = wasmtime.Store(engine)
        # Distinct functions of this store, for funcref values.
        self.funcs = [wasmtime.Func(self.store, wasmtime.FuncType([], []), lambda: None) for _ in range(N_FUNCS)]
        self.objects = [factory() for factory in EXTERN_FACTORIES[:n_objects]]
        #: Odd values (see :func:`odd_value`), made once per environment so
        #: that every path sees the same objects (and the same reprs).
        self.odd: Dict[Tuple[str, str], Any] = {}
        self.other_store: Optional[wasmtime.Store] = None

    def resolve(self, ref: Ref) -> Any:
        if ref.what == "func":
            return self.funcs[ref.index]
        return self.objects[ref.index]

    def known(self) -> List[Any]:
        """Every object an externref may legitimately carry back."""
        return [*self.objects, *self.odd.values(), self.store]

    def close(self) -> None:
        self.store.close()
        if self.other_store is not None:
            self.other_store.close()


# The model ----------------------------------------------------------------------


def expected(kind: str, value: Any, env: Env) -> Any:
    """What a value of ``kind`` sent as ``value`` must look like on arrival."""
    if isinstance(value, Ref):
        target = env.resolve(value)
        if kind == "funcref":
            return ("func", target._func.store_id, getattr(target._func, "__private"))
        return ("obj", id(target))
    if value is None:
        return None
    if kind == "i32":
        return ("int", signed(int(value), 32))
    if kind == "i64":
        return ("int", signed(int(value), 64))
    if kind == "f32":
        bits = f32_bits(float(value))
        return ("f32", _mask_f32(bits))
    if kind == "f64":
        return ("f64", f64_bits(float(value)))
    if kind == "v128":
        return ("v128", bytes(value))
    raise AssertionError(kind)


def _mask_f32(bits: int) -> int:
    if (bits & 0x7F80_0000) == 0x7F80_0000 and bits & 0x007F_FFFF:
        return bits & ~F32_QUIET
    return bits


def observed(kind: str, value: Any, objects: Sequence[Any]) -> Any:
    """The same key, computed strictly from what actually arrived."""
    if kind == "funcref":
        if value is None:
            return None
        if not isinstance(value, wasmtime.Func):
            return ("bad type", type(value).__name__)
        return ("func", value._func.store_id, getattr(value._func, "__private"))
    if kind == "externref":
        if value is None:
            return None
        for obj in objects:
            if value is obj:
                return ("obj", id(obj))
        return ("unknown object", type(value).__name__)
    if kind in ("i32", "i64"):
        bits = 32 if kind == "i32" else 64
        if type(value) is not int:
            return ("bad type", type(value).__name__)
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            return ("not signed", value)
        return ("int", value)
    if kind == "f32":
        if type(value) is not float:
            return ("bad type", type(value).__name__)
        bits = f32_bits(value)
        if not math.isnan(value) and f64_bits(f32_from_bits(bits)) != f64_bits(value):
            return ("not an f32", value)
        return ("f32", _mask_f32(bits))
    if kind == "f64":
        if type(value) is not float:
            return ("bad type", type(value).__name__)
        return ("f64", f64_bits(value))
    if kind == "v128":
        if type(value) is not bytes:
            return ("bad type", type(value).__name__)
        return ("v128", value)
    raise AssertionError(kind)


# Modules, function types ----------------------------------------------------------

_engine_lock = threading.Lock()
_ENGINE: Optional[wasmtime.Engine] = None
_MODULES: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], wasmtime.Module] = {}
_FUNCTYPES: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], wasmtime.FuncType] = {}
_CACHE_MAX = 4096


def engine() -> wasmtime.Engine:
    global _ENGINE
    with _engine_lock:
        if _ENGINE is None:
            _ENGINE = wasmtime.Engine()
        return _ENGINE


def forwarding_wat(params: Sequence[str], results: Sequence[str]) -> str:
    """``run`` forwards its parameters to the import ``host.f`` and returns its results; exports ``mem``."""
    return _forwarding_wat(params, results, carriers=False, extra='(memory (export "mem") 1)')


def module_for(sig: Sig) -> wasmtime.Module:
    key = (sig.params, sig.results)
    found = _MODULES.get(key)
    if found is None:
        if len(_MODULES) >= _CACHE_MAX:
            _MODULES.clear()
        found = _MODULES[key] = wasmtime.Module(engine(), forwarding_wat(*key))
    return found


def functype_for(sig: Sig) -> wasmtime.FuncType:
    """The import's own ``FuncType`` (wasmtime-py has no ``ValType.v128()``)."""
    key = (sig.params, sig.results)
    found = _FUNCTYPES.get(key)
    if found is None:
        if len(_FUNCTYPES) >= _CACHE_MAX:
            _FUNCTYPES.clear()
        ty = module_for(sig).imports[0].type
        assert isinstance(ty, wasmtime.FuncType)
        found = _FUNCTYPES[key] = ty
    return found


# v128 ------------------------------------------------------------------------------
#
# wasmtime's C API aborts the process (it does not raise) on some v128 type
# operations.  Whether wasmjit's v128 host functions and typed calls survive
# is checked once, in a subprocess; test_v128_does_not_abort reports it.  If
# they do not, v128 is left out of the in-process differential runs so that
# one abort does not take the whole session down.

V128_PROBE = r"""
import sys
sys.path.insert(0, {tests!r})
import wasmtime, wasmjit
from wasmjit import v128
from test_fuzz_differential import forwarding_wat, BACKENDS
store = wasmtime.Store()
module = wasmtime.Module(store.engine, forwarding_wat(["v128", "i32"], ["i32", "v128"]))
vector = bytes(range(16))
for backend in BACKENDS:
    def cb(x: v128, n: wasmjit.i32) -> tuple[wasmjit.i32, v128]:
        return n + 1, x[::-1]
    print("annotations", backend, flush=True)
    annotated = wasmjit.Function.from_callback(store, cb, backend=backend)
    print("type=", backend, flush=True)
    typed_type = wasmjit.Function.from_callback(
        store, lambda x, n: (n + 1, x[::-1]), type=module.imports[0].type, backend=backend)
    for host in (annotated, typed_type):
        run = wasmtime.Instance(store, module, [host]).exports(store)["run"]
        print("typed", backend, flush=True)
        fn = wasmjit.typed(store, run, backend=backend)
        assert fn(vector, 41) == (42, vector[::-1]), fn(vector, 41)
print("OK")
"""

_v128_status: Optional[Tuple[bool, str]] = None


def v128_status() -> Tuple[bool, str]:
    """(whether v128 host functions and typed calls work, what the probe printed)."""
    global _v128_status
    if _v128_status is None:
        import subprocess
        import sys

        tests = os.path.dirname(os.path.abspath(__file__))
        proc = subprocess.run(
            [sys.executable, "-c", V128_PROBE.format(tests=tests)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        ok = proc.returncode == 0 and proc.stdout.strip().endswith("OK")
        detail = f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-2000:]}"
        _v128_status = (ok, detail)
    return _v128_status


def usable_kinds() -> Tuple[str, ...]:
    return KINDS if v128_status()[0] else tuple(k for k in KINDS if k != "v128")


def result_annotation(sig: Sig) -> Any:
    markers = tuple(MARKERS[k] for k in sig.results)
    if not markers:
        return None
    if len(markers) == 1 and not sig.tuple1:
        return markers[0]
    return Tuple[markers]  # typing.Tuple[...] of Annotated markers


def callable_type(sig: Sig) -> Any:
    from typing import Callable as TypingCallable

    return TypingCallable[[MARKERS[k] for k in sig.params], result_annotation(sig) if sig.results else None]


# Host functions ------------------------------------------------------------------


class Boom(Exception):
    """Raised by callbacks in the exception cases; each path gets a fresh one."""


@dataclass
class Record:
    """What one callback saw during one call."""

    calls: List[Tuple[Any, ...]]
    keys: List[Tuple[Any, ...]]
    caller_seen: List[Any]
    exception: Optional[BaseException] = None


def _probe_caller(caller: Any) -> str:
    if not isinstance(caller, wasmtime.Caller):
        return f"not a Caller: {type(caller).__name__}"
    export = caller.get("mem")
    return type(export).__name__


def make_callback(case: Case, env: Env, record: Record, stock: bool) -> Callable[..., Any]:
    sig = case.sig
    if stock:
        outputs = [v.stock(env) for v in case.results]
    else:
        outputs = [v.present(env) for v in case.results]

    def callback(*args):  # type: ignore[no-untyped-def]  # unannotated: type= decides
        if sig.caller:
            caller = args[0]
            record.caller_seen.append((_probe_caller(caller), caller))
            args = args[1:]
        # Keys are taken on arrival: stock wasmtime-py hands callbacks funcref
        # parameters that point into the call's argument buffer, which is
        # reused once the call is over.
        record.calls.append(args)
        record.keys.append(tuple(observed(k, v, env.objects) for k, v in zip(sig.params, args, strict=False)))
        if record.exception is not None:
            raise record.exception
        if not outputs:
            return None
        if len(outputs) == 1 and (stock or not sig.tuple1 or sig.declare != "annotations"):
            return outputs[0]
        if case.as_list:
            return list(outputs)
        return tuple(outputs)

    if not stock and sig.declare == "annotations":
        return annotate(callback, sig)
    return callback


def annotate(callback: Callable[..., Any], sig: Sig) -> Callable[..., Any]:
    """A callable with real parameters annotated with ``sig``'s markers that calls ``callback``."""
    arity = len(sig.params) + sig.caller
    annotated = ARITY_FACTORIES[arity](callback)
    names = PARAMETER_NAMES[:arity]
    kinds: List[Any] = ([wasmtime.Caller] if sig.caller else []) + [MARKERS[k] for k in sig.params]
    annotated.__annotations__ = {**dict(zip(names, kinds, strict=True)), "return": result_annotation(sig)}
    return annotated


# Annotated callbacks need real parameters: one factory per arity (a callable
# whose ``__signature__`` differs from its code is checked separately, in
# test_reliability_hostile.py).
# fmt: off
PARAMETER_NAMES = tuple("abcdeghijkmnopqrst")
ARITY_FACTORIES: Tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    lambda f: lambda: f(),
    lambda f: lambda a: f(a),
    lambda f: lambda a,b: f(a,b),
    lambda f: lambda a,b,c: f(a,b,c),
    lambda f: lambda a,b,c,d: f(a,b,c,d),
    lambda f: lambda a,b,c,d,e: f(a,b,c,d,e),
    lambda f: lambda a,b,c,d,e,g: f(a,b,c,d,e,g),
    lambda f: lambda a,b,c,d,e,g,h: f(a,b,c,d,e,g,h),
    lambda f: lambda a,b,c,d,e,g,h,i: f(a,b,c,d,e,g,h,i),
    lambda f: lambda a,b,c,d,e,g,h,i,j: f(a,b,c,d,e,g,h,i,j),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k: f(a,b,c,d,e,g,h,i,j,k),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m: f(a,b,c,d,e,g,h,i,j,k,m),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n: f(a,b,c,d,e,g,h,i,j,k,m,n),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n,o: f(a,b,c,d,e,g,h,i,j,k,m,n,o),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n,o,p: f(a,b,c,d,e,g,h,i,j,k,m,n,o,p),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n,o,p,q: f(a,b,c,d,e,g,h,i,j,k,m,n,o,p,q),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n,o,p,q,r: f(a,b,c,d,e,g,h,i,j,k,m,n,o,p,q,r),
    lambda f: lambda a,b,c,d,e,g,h,i,j,k,m,n,o,p,q,r,s: f(a,b,c,d,e,g,h,i,j,k,m,n,o,p,q,r,s),
)
# fmt: on
assert len(ARITY_FACTORIES) == MAX_PARAMS + 2


def make_host(case: Case, env: Env, record: Record, backend: str) -> wasmtime.Func:
    sig = case.sig
    if backend == "stock":
        return wasmtime.Func(env.store, functype_for(sig), make_callback(case, env, record, True), sig.caller)
    callback = make_callback(case, env, record, False)
    if sig.declare == "annotations":
        host = wasmjit.Function.from_callback(env.store, callback, backend=backend)
    else:
        host = wasmjit.Function.from_callback(
            env.store, callback, type=functype_for(sig), access_caller=sig.caller or None, backend=backend
        )
    assert host.backend == backend, (host.backend, backend)
    return host


# Running a case --------------------------------------------------------------------


class Mismatch(AssertionError):
    pass


def _check_results(case: Case, env: Env, path: str, got: Any, stock: bool) -> List[str]:
    """Stock ``Func.__call__`` returns several results as a list, typed calls as a tuple."""
    kinds = case.sig.results
    problems = []
    if not kinds:
        if got is not None:
            problems.append(f"{path}: expected None, got {got!r}")
        return problems
    if len(kinds) == 1:
        values = [got]
    else:
        container = list if stock else tuple
        if type(got) is not container or len(got) != len(kinds):
            return [f"{path}: expected a {container.__name__} of {len(kinds)}, got {got!r}"]
        values = list(got)
    for index, (kind, value, spec) in enumerate(zip(kinds, values, case.results, strict=True)):
        want = expected(kind, spec.raw, env)
        have = observed(kind, value, env.objects)
        if want != have:
            problems.append(f"{path}: result {index} ({kind}): sent {spec.raw!r}, expected {want}, got {have}")
    return problems


def _check_arrival(case: Case, env: Env, path: str, record: Record, direct: bool, host_backend: str) -> List[str]:
    sig = case.sig
    if len(record.calls) != 1:
        return [f"{path}: the callback ran {len(record.calls)} times"]
    problems = []
    for index, (kind, value, have, spec) in enumerate(
        zip(sig.params, record.calls[0], record.keys[0], case.args, strict=True)
    ):
        want = expected(kind, spec.raw, env)
        if want != have:
            problems.append(f"{path}: parameter {index} ({kind}): sent {spec.raw!r}, expected {want}, got {have}")
        elif host_backend != "stock" and observed(kind, value, env.objects) != have:
            # wasmjit's values own their data: still the same after the call.
            problems.append(f"{path}: parameter {index} ({kind}) changed after the callback returned")
    if len(record.calls[0]) != len(sig.params):
        problems.append(f"{path}: callback got {len(record.calls[0])} values, expected {len(sig.params)}")
    if sig.caller:
        probe, caller = record.caller_seen[0]
        # Called from wasm, the caller is the instance exporting "mem"; called
        # directly from the host there is no calling instance.
        want_probe = "NoneType" if direct else "Memory"
        if probe != want_probe:
            problems.append(f"{path}: caller.get('mem') gave {probe}, expected {want_probe}")
        try:
            caller._context()
        except ValueError:
            pass
        else:
            problems.append(f"{path}: the Caller is still usable after the callback returned")
        if caller.get("mem") is not None:
            problems.append(f"{path}: an invalidated Caller still finds exports")
    return problems


def run_case(case: Case, backends: Optional[Sequence[str]] = None, include_stock: bool = True) -> int:
    """Run ``case`` through every host-function backend and every caller; return the path count.

    ``backends`` defaults to :func:`checked_backends` (every usable backend
    and the oracle).  Raises :class:`Mismatch` listing every disagreement
    with the model.
    """
    backends = checked_backends() if backends is None else tuple(backends)
    with oracle_backend():
        return _run_case(case, backends, include_stock)


def _run_case(case: Case, backends: Sequence[str], include_stock: bool) -> int:
    sig = case.sig
    env = Env(engine())
    problems: List[str] = []
    paths = 0
    use_stock = include_stock and not sig.has_v128
    hosts = list(backends) + (["stock"] if use_stock else [])
    try:
        module = module_for(sig)
        for host_backend in hosts:
            record = Record([], [], [])
            host = make_host(case, env, record, host_backend)
            instance = wasmtime.Instance(env.store, module, [host])
            run = instance.exports(env.store)["run"]
            assert isinstance(run, wasmtime.Func)
            callers: List[Tuple[str, Callable[..., Any], bool, bool]] = []
            for target_name, target, direct in (("run", run, False), ("host", host, True)):
                if use_stock:
                    callers.append((f"stock call {target_name}", lambda *a, t=target: t(env.store, *a), True, direct))
                for call_backend in backends:
                    declared = callable_type(sig) if sig.typed_signature else None
                    fn = wasmjit.typed(env.store, target, declared, backend=call_backend)
                    assert fn.backend == call_backend
                    callers.append((f"typed[{call_backend}] {target_name}", fn, False, direct))
            for label, call, stock_args, direct in callers:
                path = f"host={host_backend} via {label}"
                record.calls.clear()
                record.keys.clear()
                record.caller_seen.clear()
                record.exception = Boom(path) if case.raises else None
                args = [v.stock(env) if stock_args else v.present(env) for v in case.args]
                paths += 1
                try:
                    got = call(*args)
                except Boom as exc:
                    if not case.raises:
                        problems.append(f"{path}: unexpected {exc!r}")
                    elif exc is not record.exception:
                        problems.append(f"{path}: a different Boom arrived: {exc!r}")
                    problems += _check_arrival(case, env, path, record, direct, host_backend)
                    continue
                except Exception as exc:
                    problems.append(f"{path}: raised {type(exc).__name__}: {exc}")
                    continue
                if case.raises:
                    problems.append(f"{path}: returned {got!r} although the callback raised")
                    continue
                problems += _check_arrival(case, env, path, record, direct, host_backend)
                problems += _check_results(case, env, path, got, stock_args)
    finally:
        env.close()
    if problems:
        raise Mismatch(f"signature {sig}:\n  " + "\n  ".join(problems[:40]))
    return paths


# Failures and odd values: every backend and the oracle agree --------------------------
#
# The model above says what a good value becomes.  For everything else (typed
# calls with the wrong arguments, callbacks returning the wrong shape or type,
# values only the exact path takes) the check is agreement: every backend and
# the oracle return the same thing, or raise the same exception type with the
# same message.


class Index:
    """An integer only through ``__index__``."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Index({self.value})"


class FloatLike:
    """A float only through ``__float__``."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"FloatLike({self.value})"


class IntSub(int):
    pass


class FloatSub(float):
    pass


class TupleSub(tuple):  # type: ignore[type-arg]
    pass


#: Presentations of each kind's values that the fast path does not take: the
#: exact path converts them, or raises an error naming their position.
ODD: Dict[str, Tuple[str, ...]] = {
    "i32": ("index", "bool", "int subclass", "2**32", "-2**31-1", "float", "str", "None"),
    "i64": ("index", "int subclass", "2**64", "-2**63-1", "float", "None"),
    "f32": ("int", "huge int", "float-like", "float subclass", "index", "str", "None"),
    "f64": ("int", "huge int", "float-like", "float subclass", "index", "str", "None"),
    "v128": ("bytearray", "memoryview", "15 bytes", "17 bytes", "str", "list", "None"),
    "funcref": ("object", "int", "func of another store", "store"),
    "externref": ("object", "store", "index"),
}

_ODD_MAKERS: Dict[str, Callable[["Env"], Any]] = {
    "index": lambda env: Index(7),
    "bool": lambda env: True,
    "int subclass": lambda env: IntSub(-5),
    "2**32": lambda env: 1 << 32,
    "-2**31-1": lambda env: -(1 << 31) - 1,
    "2**64": lambda env: 1 << 64,
    "-2**63-1": lambda env: -(1 << 63) - 1,
    "float": lambda env: 1.5,
    "str": lambda env: "0123456789abcdef",
    "None": lambda env: None,
    "int": lambda env: 3,
    "huge int": lambda env: 1 << 1100,
    "float-like": lambda env: FloatLike(2.5),
    "float subclass": lambda env: FloatSub(0.1),
    "bytearray": lambda env: bytearray(range(16)),
    "memoryview": lambda env: memoryview(bytes(range(16, 32))),
    "15 bytes": lambda env: b"\x01" * 15,
    "17 bytes": lambda env: b"\x02" * 17,
    "list": lambda env: list(range(16)),
    "object": lambda env: object(),
    "store": lambda env: env.store,
    "func of another store": lambda env: _other_store_func(env),
}


def _other_store_func(env: "Env") -> wasmtime.Func:
    if env.other_store is None:
        env.other_store = wasmtime.Store(env.store.engine)
    return wasmtime.Func(env.other_store, wasmtime.FuncType([], []), lambda: None)


def odd_value(env: "Env", role: str, label: str) -> Any:
    """The odd value ``label`` for ``role`` (``"argument 2"``, ...), the same object on every path."""
    key = (role, label)
    if key not in env.odd:
        env.odd[key] = _ODD_MAKERS[label](env)
    return env.odd[key]


#: How a failure case's callback returns its results.
SHAPES = ("as declared", "list", "tuple subclass", "one short", "one long", "not a sequence", "None")


@dataclass(frozen=True)
class FailureCase:
    sig: Sig
    args: Tuple[Value, ...]
    results: Tuple[Value, ...]
    #: ``(position, label)`` of an odd argument of the typed calls.
    odd_arg: Optional[Tuple[int, str]] = None
    #: ``(position, label)`` of an odd result of the callback.
    odd_result: Optional[Tuple[int, str]] = None
    shape: str = "as declared"


def shaped(fc: FailureCase, outputs: List[Any]) -> Any:
    """What the callback of ``fc`` returns."""
    shape = fc.shape
    if shape == "as declared":
        if not outputs:
            return None
        if len(outputs) == 1 and not (fc.sig.tuple1 and fc.sig.declare == "annotations"):
            return outputs[0]
        return tuple(outputs)
    if shape == "list":
        return list(outputs)
    if shape == "tuple subclass":
        return TupleSub(outputs)
    if shape == "one short":
        return tuple(outputs[:-1])
    if shape == "one long":
        return (*outputs, outputs[-1] if outputs else 0)
    if shape == "not a sequence":
        return 5
    if shape == "None":
        return None
    raise AssertionError(shape)


Outcome = Tuple[Any, ...]


def outcome(env: Env, kinds: Sequence[str], call: Callable[..., Any], args: Sequence[Any], **kwargs: Any) -> Outcome:
    """What a call did, comparable across paths: what it returned (by :func:`observed`), or what it raised."""
    try:
        got = call(*args, **kwargs)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    if not kinds:
        return ("returned", repr(got))
    values = list(got) if isinstance(got, (tuple, list)) else [got]
    known = env.known()
    return ("returned", type(got).__name__, tuple(observed(k, v, known) for k, v in zip(kinds, values, strict=False)))


def arity_variants(sig: Sig, args: List[Any], env: Env) -> List[Tuple[str, List[Any]]]:
    """Wrong-arity calls of a typed caller of ``sig``, by name."""
    variants: List[Tuple[str, List[Any]]] = []
    if args:
        variants.append(("too few", args[:-1]))
        variants.append(("a store instead of the first argument", [env.store, *args[1:]]))
    if len(args) >= 2:
        variants.append(("none", []))
    variants.append(("too many", [*args, args[-1] if args else 0]))
    variants.append(("a store first", [env.store, *args]))
    return variants


def make_failure_host(fc: FailureCase, env: Env, backend: str, arrivals: List[Any]) -> wasmtime.Func:
    sig = fc.sig
    outputs = [v.present(env) for v in fc.results]
    if fc.odd_result is not None:
        position, label = fc.odd_result
        outputs[position] = odd_value(env, f"result {position}", label)
    known = env.known()

    def callback(*args):  # type: ignore[no-untyped-def]  # unannotated: type= decides
        if sig.caller:
            args = args[1:]
        arrivals.append(tuple(observed(k, v, known) for k, v in zip(sig.params, args, strict=False)))
        return shaped(fc, outputs)

    if sig.declare == "annotations":
        host = wasmjit.Function.from_callback(env.store, annotate(callback, sig), backend=backend)
    else:
        host = wasmjit.Function.from_callback(
            env.store, callback, type=functype_for(sig), access_caller=sig.caller or None, backend=backend
        )
    assert host.backend == backend, (host.backend, backend)
    return host


def run_failure_case(fc: FailureCase, backends: Optional[Sequence[str]] = None) -> int:
    """Run ``fc`` on every pair of host and caller backends; return the path count.

    Raises :class:`Mismatch` where paths that must agree do not.
    """
    backends = checked_backends() if backends is None else tuple(backends)
    with oracle_backend():
        return _run_failure_case(fc, backends)


def _run_failure_case(fc: FailureCase, backends: Sequence[str]) -> int:
    sig = fc.sig
    env = Env(engine())
    # What must agree -> path -> outcome.
    outcomes: Dict[str, Dict[str, Outcome]] = {}
    try:
        module = module_for(sig)
        args = [v.present(env) for v in fc.args]
        if fc.odd_arg is not None:
            position, label = fc.odd_arg
            args[position] = odd_value(env, f"argument {position}", label)
        for host_backend in backends:
            arrivals: List[Any] = []
            host = make_failure_host(fc, env, host_backend, arrivals)
            run = wasmtime.Instance(env.store, module, [host]).exports(env.store)["run"]
            assert isinstance(run, wasmtime.Func)
            for target_name, target in (("run", run), ("host", host)):
                for call_backend in backends:
                    fn = wasmjit.typed(env.store, target, backend=call_backend)
                    assert fn.backend == call_backend
                    path = f"host={host_backend} via typed[{call_backend}]"
                    arrivals.clear()
                    result = outcome(env, sig.results, fn, args)
                    outcomes.setdefault(f"call {target_name}", {})[path] = (*result, tuple(arrivals))
                    if host_backend != backends[0]:
                        continue  # the arity checks do not depend on the host
                    for variant, wrong in arity_variants(sig, args, env):
                        what = f"{variant} ({len(wrong)} arguments) {target_name}"
                        outcomes.setdefault(what, {})[f"typed[{call_backend}]"] = outcome(env, sig.results, fn, wrong)
    finally:
        env.close()
    problems = []
    for what, by_path in outcomes.items():
        distinct: Dict[Outcome, List[str]] = {}
        for path, result in by_path.items():
            distinct.setdefault(result, []).append(path)
        if len(distinct) > 1:
            listed = "\n    ".join(
                f"{paths[:4]}{' ...' if len(paths) > 4 else ''}: {result}" for result, paths in distinct.items()
            )
            problems.append(f"{what}: the paths disagree:\n    {listed}")
    if problems:
        raise Mismatch(f"{sig} {fc}:\n  " + "\n  ".join(problems[:20]))
    return sum(len(by_path) for by_path in outcomes.values())


def random_failure_case(rng: random.Random, sig: Optional[Sig] = None, kinds: Sequence[str] = KINDS) -> FailureCase:
    base = random_case(rng, sig, kinds)
    sig = base.sig
    odd_arg = odd_result = None
    if sig.params and rng.random() < 0.7:
        position = rng.randrange(len(sig.params))
        odd_arg = (position, rng.choice(ODD[sig.params[position]]))
    if sig.results and rng.random() < 0.7:
        position = rng.randrange(len(sig.results))
        odd_result = (position, rng.choice(ODD[sig.results[position]]))
    shape = "as declared" if rng.random() < 0.5 else rng.choice(SHAPES)
    return FailureCase(sig, base.args, base.results, odd_arg, odd_result, shape)


# Hypothesis strategies ------------------------------------------------------------

if st is not None:
    kinds_st = st.deferred(lambda: st.sampled_from(usable_kinds()))

    sigs_st = st.builds(
        Sig,
        params=st.lists(kinds_st, max_size=MAX_PARAMS).map(tuple),
        results=st.lists(kinds_st, max_size=MAX_RESULTS).map(tuple),
        caller=st.booleans(),
        declare=st.sampled_from(("type", "annotations")),
        tuple1=st.booleans(),
        typed_signature=st.booleans(),
    )

    def _plain(strategy: Any) -> Any:
        return strategy

    int_forms = {
        "i32": st.one_of(st.sampled_from(I32_EDGES), st.integers(I32_MIN, U32)),
        "i64": st.one_of(st.sampled_from(I64_EDGES), st.integers(I64_MIN, U64)),
    }
    f64_st = st.one_of(
        st.sampled_from(F64_EDGE_BITS).map(f64_from_bits),
        st.integers(0, U64).map(f64_from_bits),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    f32_st = st.one_of(
        st.sampled_from(F32_EDGE_BITS).map(f32_from_bits),
        st.sampled_from(F32_EDGE_DOUBLES),
        st.integers(0, U32).map(f32_from_bits),
        st.floats(width=32),
        st.floats(),
    )
    float_int_st = st.one_of(
        st.sampled_from((0, 1, -1, 1 << 24, (1 << 24) + 1, 1 << 53)), st.integers(-(1 << 60), 1 << 60)
    )

    def value_st(kind: str) -> Any:
        if kind in int_forms:
            return int_forms[kind].map(lambda v: Value(kind, v))
        if kind in ("f32", "f64"):
            floats = f32_st if kind == "f32" else f64_st
            return st.one_of(
                floats.map(lambda v: Value(kind, v)),
                float_int_st.map(lambda v: Value(kind, v, "int")),
            )
        if kind == "v128":
            return st.tuples(
                st.one_of(st.sampled_from(V128_EDGES), st.binary(min_size=16, max_size=16)),
                st.sampled_from(("plain", "plain", "bytearray", "memoryview")),
            ).map(lambda t: Value(kind, t[0], t[1]))
        if kind == "funcref":
            return st.one_of(st.none(), st.integers(0, N_FUNCS - 1).map(lambda i: Ref("func", i))).map(
                lambda r: Value(kind, r)
            )
        if kind == "externref":
            return st.one_of(st.none(), st.integers(0, len(EXTERN_FACTORIES) - 1).map(lambda i: Ref("ext", i))).map(
                lambda r: Value(kind, r)
            )
        raise AssertionError(kind)

    @st.composite
    def cases_st(draw: Any) -> Case:
        sig = draw(sigs_st)
        args = tuple(draw(value_st(k)) for k in sig.params)
        results = tuple(draw(value_st(k)) for k in sig.results)
        raises = draw(st.integers(0, 9)) == 0
        as_list = len(sig.results) > 1 and draw(st.booleans())
        return Case(sig, args, results, raises, as_list)


# A Hypothesis-free generator (for subprocess checks) ----------------------------------


def random_value(rng: random.Random, kind: str) -> Value:
    pick = rng.random()
    if kind == "i32":
        return Value(kind, rng.choice(I32_EDGES) if pick < 0.6 else rng.randint(I32_MIN, U32))
    if kind == "i64":
        return Value(kind, rng.choice(I64_EDGES) if pick < 0.6 else rng.randint(I64_MIN, U64))
    if kind == "f32":
        if pick < 0.4:
            return Value(kind, f32_from_bits(rng.choice(F32_EDGE_BITS)))
        if pick < 0.6:
            return Value(kind, rng.choice(F32_EDGE_DOUBLES))
        if pick < 0.7:
            return Value(kind, rng.randint(-(1 << 30), 1 << 30), "int")
        return Value(kind, f32_from_bits(rng.getrandbits(32)))
    if kind == "f64":
        if pick < 0.5:
            return Value(kind, f64_from_bits(rng.choice(F64_EDGE_BITS)))
        if pick < 0.6:
            return Value(kind, rng.randint(-(1 << 60), 1 << 60), "int")
        return Value(kind, f64_from_bits(rng.getrandbits(64)))
    if kind == "v128":
        data = rng.choice(V128_EDGES) if pick < 0.4 else rng.getrandbits(128).to_bytes(16, "little")
        return Value(kind, data, rng.choice(("plain", "bytearray", "memoryview")))
    if kind == "funcref":
        return Value(kind, None if pick < 0.3 else Ref("func", rng.randrange(N_FUNCS)))
    if kind == "externref":
        return Value(kind, None if pick < 0.3 else Ref("ext", rng.randrange(len(EXTERN_FACTORIES))))
    raise AssertionError(kind)


def random_case(rng: random.Random, sig: Optional[Sig] = None, kinds: Sequence[str] = KINDS) -> Case:
    if sig is None:
        sig = Sig(
            tuple(rng.choice(kinds) for _ in range(rng.randint(0, MAX_PARAMS))),
            tuple(rng.choice(kinds) for _ in range(rng.randint(0, MAX_RESULTS))),
            caller=rng.random() < 0.5,
            declare=rng.choice(("type", "annotations")),
            tuple1=rng.random() < 0.5,
            typed_signature=rng.random() < 0.5,
        )
    args = tuple(random_value(rng, k) for k in sig.params)
    results = tuple(random_value(rng, k) for k in sig.results)
    return Case(sig, args, results, rng.random() < 0.1, len(sig.results) > 1 and rng.random() < 0.5)


#: Signatures every differential run includes: each kind alone and all of them together.
FIXED_SIGS: Tuple[Sig, ...] = (
    Sig((), ()),
    *(Sig((k,), (k,)) for k in KINDS),
    Sig(KINDS, tuple(reversed(KINDS))),
    Sig((*KINDS, *KINDS, "i32", "f64"), (*KINDS, "f32"), caller=True),
    Sig(KINDS, ("externref",), caller=True, declare="annotations", tuple1=True, typed_signature=True),
    Sig(("f32",) * MAX_PARAMS, ("f64",) * MAX_RESULTS, declare="annotations", typed_signature=True),
)


# Tests ---------------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.cases = 0
        self.paths = 0


COUNTER = Counter()


def _check(case: Case) -> None:
    COUNTER.cases += 1
    COUNTER.paths += run_case(case)


QUICK_EXAMPLES = int(os.environ.get("WASMJIT_FUZZ_QUICK_EXAMPLES", "600"))
LONG_EXAMPLES = int(os.environ.get("WASMJIT_FUZZ_EXAMPLES", "100000"))


def without_v128(sig: Sig) -> Sig:
    """``sig`` minus its v128 values when v128 is known to abort (see test_every_edge_value[v128])."""
    if v128_status()[0] or not sig.has_v128:
        return sig
    return Sig(
        tuple(k for k in sig.params if k != "v128"),
        tuple(k for k in sig.results if k != "v128"),
        sig.caller,
        sig.declare,
        sig.tuple1,
        sig.typed_signature,
    )


@pytest.mark.parametrize("sig", FIXED_SIGS, ids=str)
def test_fixed_signatures(sig: Sig) -> None:
    sig = without_v128(sig)
    rng = random.Random(f"fixed {sig}")
    for _ in range(8):
        run_case(random_case(rng, sig))


@pytest.mark.parametrize("kind", KINDS)
def test_every_edge_value(kind: str) -> None:
    """Each edge value of each kind, as parameter and result, with and without a Caller."""
    if kind in ("i32", "i64"):
        values = [Value(kind, v) for v in (I32_EDGES if kind == "i32" else I64_EDGES)]
    elif kind == "f32":
        values = [Value(kind, f32_from_bits(b)) for b in F32_EDGE_BITS]
        values += [Value(kind, v) for v in F32_EDGE_DOUBLES]
    elif kind == "f64":
        values = [Value(kind, f64_from_bits(b)) for b in F64_EDGE_BITS] + [Value(kind, 7, "int")]
    elif kind == "v128":
        ok, detail = v128_status()
        if not ok:
            pytest.fail(
                "v128 host functions or typed calls fail "
                f"(checked in a subprocess: some v128 failures abort the process):\n{detail}",
                pytrace=False,
            )
        values = [Value(kind, v, form) for v in V128_EDGES for form in ("plain", "bytearray", "memoryview")]
    elif kind == "funcref":
        values = [Value(kind, None)] + [Value(kind, Ref("func", i)) for i in range(N_FUNCS)]
    else:
        values = [Value(kind, None)] + [Value(kind, Ref("ext", i)) for i in range(len(EXTERN_FACTORIES))]
    # Pack the edge values into few cases: up to 8 parameters and results at a time.
    for caller in (False, True):
        for start in range(0, len(values), 8):
            chunk = tuple(values[start : start + 8])
            results = tuple(reversed(chunk))
            sig = Sig(tuple(kind for _ in chunk), tuple(kind for _ in results), caller=caller)
            run_case(Case(sig, chunk, results))


if st is not None:

    @settings(
        max_examples=QUICK_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(cases_st())
    def test_differential(case: Case) -> None:
        _check(case)

    @settings(
        max_examples=LONG_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases_st())
    def _long_differential(case: Case) -> None:
        _check(case)

    @pytest.mark.fuzz
    def test_differential_long() -> None:
        """The long profile: ``pytest -m fuzz`` (``WASMJIT_FUZZ_EXAMPLES`` cases, default 100,000)."""
        before_cases, before_paths = COUNTER.cases, COUNTER.paths
        _long_differential()
        cases = COUNTER.cases - before_cases
        paths = COUNTER.paths - before_paths
        print(f"\ndifferential long profile: {cases} cases, {paths} paths, all agreeing")
        assert cases >= LONG_EXAMPLES


# Failures and odd values ------------------------------------------------------------


def _good_values(rng: random.Random, kinds: Sequence[str]) -> Tuple[Value, ...]:
    return tuple(random_value(rng, k) for k in kinds)


@pytest.mark.parametrize("role", ("argument", "result"))
@pytest.mark.parametrize("kind", KINDS)
def test_odd_values_agree(kind: str, role: str) -> None:
    """Each odd presentation of each kind as a typed call's argument or a callback's result, alone and among others."""
    if kind not in usable_kinds():
        pytest.skip("v128 aborts here (see test_every_edge_value[v128])")
    rng = random.Random(f"odd {kind} {role}")
    for label in ODD[kind]:
        for sig in (Sig((kind,), (kind,)), Sig(("i32", kind), (kind, "i64"), caller=True, declare="annotations")):
            position = sig.params.index(kind) if role == "argument" else sig.results.index(kind)
            odd = (position, label)
            fc = FailureCase(
                sig,
                _good_values(rng, sig.params),
                _good_values(rng, sig.results),
                odd_arg=odd if role == "argument" else None,
                odd_result=odd if role == "result" else None,
            )
            run_failure_case(fc)


@pytest.mark.parametrize("shape", SHAPES)
def test_result_shapes_agree(shape: str) -> None:
    """Callbacks returning results as declared or misshapen: 0, 1 (bare and 1-tuple) and 3 results."""
    rng = random.Random(f"shape {shape}")
    sigs = (
        Sig(("i32",), ()),
        Sig(("i32",), ("i32",)),
        Sig(("i32",), ("externref",), declare="annotations", tuple1=True),
        Sig(("f64",), ("f32", "i64", "funcref"), caller=True),
    )
    for sig in sigs:
        run_failure_case(FailureCase(sig, _good_values(rng, sig.params), _good_values(rng, sig.results), shape=shape))


FAILURE_EXAMPLES = int(os.environ.get("WASMJIT_FUZZ_FAILURE_EXAMPLES", "40"))


@pytest.mark.parametrize("seed", range(FAILURE_EXAMPLES))
def test_random_failures_agree(seed: int) -> None:
    """Random signatures with an odd argument, an odd result and a random result shape."""
    run_failure_case(random_failure_case(random.Random(f"failure {seed}"), kinds=usable_kinds()))


@pytest.mark.fuzz
def test_random_failures_agree_long() -> None:
    """The long profile of the failure checks (``WASMJIT_FUZZ_EXAMPLES // 20`` cases, random seed)."""
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    for index in range(max(LONG_EXAMPLES // 20, 1)):
        fc = random_failure_case(rng, kinds=usable_kinds())
        try:
            run_failure_case(fc)
        except Mismatch as exc:
            raise Mismatch(f"seed {seed}, case {index}: {exc}") from None


#: Keyword arguments passed to a typed caller of ``(i32, i32) -> i32``.
KEYWORD_CALLS: Tuple[Tuple[Tuple[Any, ...], Dict[str, Any]], ...] = (
    ((1,), {"a1": 2}),
    ((), {"a0": 1, "a1": 2}),
    ((1, 2), {"x": 3}),
    ((1,), {"extra": 2}),
    ((1, 2, 3), {"a0": 1}),
)


def test_keyword_arguments_are_refused_like_the_oracle(backend: str, oracle: str) -> None:
    """Typed callers take positional arguments only; a keyword is refused with CPython's own message."""
    env = Env(engine())
    try:
        module = module_for(Sig(("i32", "i32"), ("i32",)))
        host = wasmtime.Func(env.store, functype_for(Sig(("i32", "i32"), ("i32",))), lambda a, b: a + b)
        run = wasmtime.Instance(env.store, module, [host]).exports(env.store)["run"]
        assert isinstance(run, wasmtime.Func)
        fns = {name: wasmjit.typed(env.store, run, backend=name, name="add") for name in (backend, oracle)}
        for args, keywords in KEYWORD_CALLS:
            got = {name: outcome(env, ("i32",), fn, args, **keywords) for name, fn in fns.items()}
            assert got[backend][0] == "raised", got
            assert got[backend] == got[oracle], (args, keywords)
    finally:
        env.close()
