"""Differential fuzzing of wasmjit.component against stock wasmtime-py over random WIT types.

Each case (tests/component_gen.py) is a random WIT function type - records of
variants of lists of options of strings, and every other value type but
resources, 0..20 parameters (more than 16 flat parameters spill to memory),
results that need a return area - and a component whose export ``run``
forwards to its import ``f``.  The host function records its arguments and
returns a chosen random result; ``run`` is called with random arguments; the
host must see exactly the arguments and ``run`` must return exactly the
result (NaN equals NaN, ``-0.0`` is not ``0.0``, ``True`` is not ``1``).

Every mix of sides is run: the host function through stock
``LinkerInstance.add_func`` or ``wasmjit.component.define_callback``, the
call through stock ``Func.__call__`` or ``wasmjit.component.typed``, each
wasmjit side on every backend, values in stock's shapes (no annotations, no
``signature=``).

Profiles:

* the CI profile: :data:`CI_CASES` fixed seeds (deterministic), 3 calls each;
* the long profile (``pytest -m fuzz``): ``WASMJIT_FUZZ_COMPONENT_CASES``
  cases (default 100,000) from ``WASMJIT_FUZZ_COMPONENT_SEED`` (default: a
  random seed, printed), every mix and backend per case.

A failure prints the case's seed, its WIT type and the values;
``python tests/component_gen.py SEED --host wasmjit --call stock --backend
source`` replays it.

Also here: wrong values must fail alike on both sides (:func:`test_errors_agree`,
hand-picked; the exception type may differ only where :data:`DOCUMENTED`
says), and an ownership check: 100,000 calls with strings and lists both
ways leave resident memory flat.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

pytest.importorskip("wasmtime.component")

import wasmtime
from component_gen import (
    Case,
    EnumT,
    FlagsT,
    FuncT,
    ListT,
    Mismatch,
    OptionT,
    Prim,
    Record,
    RecordT,
    TupleT,
    Variant,
    VariantT,
    bind_run,
    component_text,
    host_function,
    make_case,
    run_case,
    show,
    wit,
)
from component_gen import Type as WitType
from conftest import BACKENDS

import wasmjit

#: Cases in the CI profile (3 calls each, on each of the 10 mixes below).
CI_CASES = 200
#: The CI profile's seeds: CI_SEED_BASE, CI_SEED_BASE + 1, ...
CI_SEED_BASE = 1_000_000

#: (host, caller) pairs that involve wasmjit; each runs on every backend.
WASMJIT_MIXES = (("stock", "wasmjit"), ("wasmjit", "stock"), ("wasmjit", "wasmjit"))
#: Every (host, caller, backend) combination: stock on both sides once, then the wasmjit mixes.
ALL_MIXES: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ("stock", "stock", None),
    *((host, caller, backend) for backend in BACKENDS for host, caller in WASMJIT_MIXES),
)


def need_wasmjit_component() -> Any:
    """``wasmjit.component``, or skip (it is being written)."""
    return pytest.importorskip("wasmjit.component", reason="wasmjit.component is not importable yet")


@functools.cache
def ci_case(i: int) -> Case:
    """The CI profile's ``i``-th case (made once, shared by every mix)."""
    return make_case(CI_SEED_BASE + i)


def report(mismatches: List[Mismatch], ran: int, limit: int = 5) -> str:
    """A failure message: how many, then the first few in full (seed, WIT type, values)."""
    head = f"{len(mismatches)} mismatches in {ran} cases; the first {min(limit, len(mismatches))}:\n\n"
    return head + "\n\n".join(map(str, mismatches[:limit]))


# --------------------------------------------------------------------------
# The CI profile
# --------------------------------------------------------------------------


@pytest.mark.parametrize("host, caller", WASMJIT_MIXES, ids=[f"{h}-host+{c}-call" for h, c in WASMJIT_MIXES])
def test_fuzz_ci_profile(host: str, caller: str, backend: str) -> None:
    """The fixed seeds, on one mix and one backend: 0 mismatches."""
    need_wasmjit_component()
    mismatches: List[Mismatch] = []
    for i in range(CI_CASES):
        mismatches += run_case(ci_case(i), host, caller, backend)
    assert not mismatches, report(mismatches, CI_CASES)


def test_fuzz_ci_profile_stock_baseline() -> None:
    """The same seeds through stock on both sides: what the wasmjit mixes are held to is right."""
    mismatches: List[Mismatch] = []
    for i in range(CI_CASES):
        mismatches += run_case(ci_case(i))
    assert not mismatches, report(mismatches, CI_CASES)


# --------------------------------------------------------------------------
# The long profile
# --------------------------------------------------------------------------


@pytest.mark.fuzz
def test_fuzz_long_profile() -> None:
    """``WASMJIT_FUZZ_COMPONENT_CASES`` random cases (default 100,000), every mix and backend on each."""
    need_wasmjit_component()
    cases = int(os.environ.get("WASMJIT_FUZZ_COMPONENT_CASES", "100000"))
    base = int(os.environ.get("WASMJIT_FUZZ_COMPONENT_SEED", str(random.SystemRandom().getrandbits(32))))
    print(f"component fuzz: {cases} cases from WASMJIT_FUZZ_COMPONENT_SEED={base}")
    seeds = random.Random(base)
    unavailable = {name for name, why in wasmjit.probe().items() if why}  # e.g. bytecode on a new CPython
    mixes = [mix for mix in ALL_MIXES if mix[2] not in unavailable]
    mismatches: List[Mismatch] = []
    started = time.monotonic()
    ran = 0
    for ran in range(1, cases + 1):
        case = make_case(seeds.getrandbits(63))
        for host, caller, backend in mixes:
            mismatches += run_case(case, host, caller, backend)
        if len(mismatches) >= 20:
            break
        if ran % 1000 == 0:
            with open("/proc/self/statm") as statm:  # resident memory: caches per WIT signature show here
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            elapsed = time.monotonic() - started
            print(f"  {ran} cases, {elapsed:.0f} s, {len(mismatches)} mismatches, {rss:.0f} MiB resident", flush=True)
    assert not mismatches, f"WASMJIT_FUZZ_COMPONENT_SEED={base}\n" + report(mismatches, ran)


# --------------------------------------------------------------------------
# Errors agree
# --------------------------------------------------------------------------

U8, U32, S64, STRING = Prim("u8"), Prim("u32"), Prim("s64"), Prim("string")
WRAPS = "wraps"  # stock delivers the value wrapped by ctypes (no error)


def _record(**fields: Any) -> Record:
    rec = Record()
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec


@dataclass(frozen=True)
class ErrorCase:
    """A wrong value on one side (``"call"``: an argument; ``"host"``: the host's result) and what stock does."""

    id: str
    side: str
    ty: WitType
    value: Any
    stock: Any  # the exception type stock raises, or WRAPS with the value that arrives
    arrives: Any = None

    def functype(self) -> FuncT:
        if self.side == "call":
            return FuncT((("x", self.ty),), None)
        return FuncT((), self.ty)


ERROR_CASES = (
    ErrorCase("u32-given-str", "call", U32, "5", TypeError),
    ErrorCase("string-given-int", "call", STRING, 5, TypeError),
    ErrorCase("bool-given-int", "call", Prim("bool"), 1, TypeError),
    ErrorCase("f64-given-int", "call", Prim("f64"), 1, TypeError),
    ErrorCase("char-given-two-chars", "call", Prim("char"), "ab", TypeError),
    ErrorCase("list-u8-given-list", "call", ListT(U8), [1, 2], TypeError),
    ErrorCase("list-u32-given-tuple", "call", ListT(U32), (1, 2), TypeError),
    ErrorCase("tuple-too-short", "call", TupleT((U32, U32)), (1,), TypeError),
    ErrorCase("record-missing-field", "call", RecordT((("x", U32), ("y", U32))), _record(x=1), AttributeError),
    ErrorCase("option-given-wrong-type", "call", OptionT(U32), "x", ValueError),
    ErrorCase("variant-unknown-tag", "call", VariantT((("a", None), ("b", None))), Variant("c"), ValueError),
    ErrorCase("enum-unknown-name", "call", EnumT(("a", "b")), "c", wasmtime.WasmtimeError),
    ErrorCase("flags-unknown-name", "call", FlagsT(("a", "b")), {"c"}, wasmtime.WasmtimeError),
    ErrorCase("string-surrogate", "call", STRING, "\ud800", UnicodeEncodeError),
    ErrorCase("u8-out-of-range", "call", U8, 300, WRAPS, 44),
    ErrorCase("s64-out-of-range", "call", S64, 2**64, WRAPS, 0),
    ErrorCase("host-u32-returns-str", "host", U32, "5", TypeError),
    ErrorCase("host-option-returns-wrong-type", "host", OptionT(U32), "x", ValueError),
    ErrorCase("host-enum-returns-unknown-name", "host", EnumT(("a", "b")), "c", wasmtime.WasmtimeError),
    ErrorCase("host-record-missing-field", "host", RecordT((("x", U32),)), Record(), AttributeError),
    ErrorCase("host-u8-out-of-range", "host", U8, 256, WRAPS, 0),
)

#: Where wasmjit may raise a different exception than stock, and why.
DOCUMENTED: Dict[str, type] = {
    # Stock hands an out-of-range int to a ctypes field, which wraps it
    # silently; wasmjit range-checks: OverflowError (issue 11).
    "u8-out-of-range": OverflowError,
    "s64-out-of-range": OverflowError,
    "host-u8-out-of-range": OverflowError,
    # wasmjit.component takes what Python's numeric tower and buffers allow
    # (docs/component.md, Restrictions): an int for f64, a list of ints for
    # list<u8>, a tuple for a list. Nothing is raised; the value arrives.
    "f64-given-int": type(None),
    "list-u8-given-list": type(None),
    "list-u32-given-tuple": type(None),
    # A value of the wrong shape is refused by wasmjit before wasm runs, with
    # a message naming the WIT type: TypeError where stock raises whatever its
    # conversion met (AttributeError for a missing record field, ValueError
    # for an option payload of the wrong type), ValueError for an unknown enum
    # or flag name (stock: WasmtimeError from wasmtime's own check).
    "record-missing-field": TypeError,
    "host-record-missing-field": TypeError,
    "option-given-wrong-type": TypeError,
    "host-option-returns-wrong-type": TypeError,
    "enum-unknown-name": ValueError,
    "host-enum-returns-unknown-name": ValueError,
    "flags-unknown-name": ValueError,
}


def outcome(case: ErrorCase, host: str, caller: str, backend: Optional[str]) -> Tuple[Optional[BaseException], Any]:
    """Run ``case`` once: (the exception ``run`` raised or None, what arrived at the other side)."""
    ft = case.functype()
    seen: List[Any] = []

    def record(args: Tuple[Any, ...]) -> Any:
        seen.append(args)
        return case.value if case.side == "host" else None

    run = bind_run(component_text(ft), host_function(len(ft.params), record), host, caller, backend)
    try:
        got = run(case.value) if case.side == "call" else run()
    except Exception as e:  # the outcome under test
        return e, None
    return None, (seen[0][0] if case.side == "call" else got)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.id for c in ERROR_CASES])
@pytest.mark.parametrize("both", [False, True], ids=["one-side-wasmjit", "both-sides-wasmjit"])
def test_errors_agree(case: ErrorCase, both: bool, backend: str) -> None:
    """A wrong value fails on wasmjit's side as on stock's (same exception type, or as :data:`DOCUMENTED`)."""
    stock_exc, stock_arrived = outcome(case, "stock", "stock", None)
    if case.stock is WRAPS:
        assert stock_exc is None and stock_arrived == case.arrives, (stock_exc, stock_arrived)
    else:
        assert type(stock_exc) is case.stock, f"stock raised {stock_exc!r}: {wit(case.functype())}"
    need_wasmjit_component()
    host, caller = ("wasmjit", "stock") if case.side == "host" else ("stock", "wasmjit")
    if both:
        host = caller = "wasmjit"
    exc, arrived = outcome(case, host, caller, backend)
    expected = DOCUMENTED.get(case.id, case.stock)
    stock_did = f"raises {case.stock.__name__}" if isinstance(case.stock, type) else f"wraps to {show(case.arrives)}"
    assert type(exc) is expected, (
        f"{case.id} ({wit(case.functype()).replace(chr(10), ' ')} value {show(case.value)}): stock {stock_did}, "
        f"host={host} call={caller} backend={backend} "
        + (f"raised {type(exc).__name__}: {exc}" if exc is not None else f"delivered {show(arrived)}")
    )


class HostFailure(Exception):
    """Raised by a host function; must reach the caller as the same object."""


@pytest.mark.parametrize("host, caller", WASMJIT_MIXES, ids=[f"{h}-host+{c}-call" for h, c in WASMJIT_MIXES])
def test_host_exception_crosses_as_the_same_object(host: str, caller: str, backend: str) -> None:
    """An exception the host function raises is re-raised, the same object, by ``run`` (as stock does)."""
    need_wasmjit_component()
    ft = FuncT((("s", STRING), ("r", RecordT((("a-b", U32),)))), OptionT(STRING))
    raised: List[BaseException] = []

    def fail(args: Tuple[Any, ...]) -> Any:
        raised.append(HostFailure(*args))
        raise raised[-1]

    run = bind_run(component_text(ft), host_function(2, fail), host, caller, backend)
    with pytest.raises(HostFailure) as info:
        run("x", _record(**{"a-b": 1}))
    assert info.value is raised[0]


def test_surrogate_results_raise_where_stock_crashes(backend: str) -> None:
    """A host ``string``/``char`` result with a lone surrogate: stock segfaults/aborts (tests/test_component_gen.py).

    wasmjit must raise instead (the host's encoding error or a ValueError), and
    the process stay usable (a new instance works: wasmtime refuses to enter an
    instance again after a trap, "cannot enter component instance").  Run in
    a subprocess: a crash must fail this test, not end the session.
    """
    need_wasmjit_component()
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from component_gen import FuncT, Prim, bind_run, component_text, host_function
        for ty, bad in ((Prim("string"), "a\\udfff"), (Prim("char"), "\\ud800")):
            for host, caller in (("wasmjit", "stock"), ("wasmjit", "wasmjit")):
                answer = [bad]
                ft = FuncT((), ty)
                text = component_text(ft)
                run = bind_run(text, host_function(0, lambda _: answer[0]), host, caller, {backend!r})
                try:
                    run()
                except (UnicodeError, ValueError) as e:
                    print("raised", ty.name, host, caller, type(e).__name__)
                # A trapped component instance cannot be entered again: a new one must work.
                answer[0] = "x"
                run = bind_run(text, host_function(0, lambda _: answer[0]), host, caller, {backend!r})
                assert run() == "x"
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    assert done.stdout.count("raised") == 4, done.stdout


# --------------------------------------------------------------------------
# Ownership: resident memory stays flat
# --------------------------------------------------------------------------

OWNERSHIP_CALLS = 100_000
OWNERSHIP_WARMUP = 10_000
OWNERSHIP_GROWTH_LIMIT = 4 * 1024 * 1024

_OWNERSHIP_SCRIPT = textwrap.dedent(
    """
    import sys, time, os
    sys.path.insert(0, {tests!r})
    from component_gen import FuncT, ListT, Prim, TupleT, bind_run, component_text

    mode, backend, calls, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    STRING, U32, U8 = Prim("string"), Prim("u32"), Prim("u8")
    ft = FuncT(
        (("s", STRING), ("l", ListT(U32)), ("names", ListT(STRING)), ("b", ListT(U8))),
        TupleT((STRING, ListT(U32), ListT(STRING), ListT(U8))),
    )
    # Sized so that any leaked argument or result is >= 100 bytes per call (a
    # string's bytes; a list's value array, 32 bytes per element), i.e. >= 8 MiB
    # over the measured calls, while a call stays cheap (lists cost wasmtime's C
    # API a value per element).
    result = ("r\\u00e9sultat " * 10, [1, 2, 3, 4], ["\\u03b3" * 60], bytes(range(8)))
    args = ("\\u00e9t\\u00e9 " * 20, [1000, 1001, 1002, 1003], ["\\u56db" * 40], b"x" * 8)

    def host(s, l, names, b):
        return result

    backend = None if backend == "-" else backend
    run = bind_run(component_text(ft), host, mode, mode, backend)
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    for _ in range(warmup):
        out = run(*args)
    assert out == result, out
    before = rss()
    started = time.perf_counter()
    for _ in range(calls - warmup):
        out = run(*args)
    elapsed = time.perf_counter() - started
    assert out == result, out
    print(rss() - before, elapsed)
    """
)


def ownership_run(mode: str, backend: Optional[str], calls: int, warmup: int) -> Tuple[int, float]:
    """Run the ownership script: (resident-memory growth after warm-up in bytes, seconds for the measured calls)."""
    script = _OWNERSHIP_SCRIPT.format(tests=str(Path(__file__).parent))
    argv = [sys.executable, "-c", script, mode, backend or "-", str(calls), str(warmup)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    growth, elapsed = done.stdout.split()
    return int(growth), float(elapsed)


def test_ownership_resident_memory_stays_flat(backend: str) -> None:
    """100,000 calls, strings and lists as arguments and results both ways: resident memory flat after warm-up.

    Both sides are wasmjit: a typed call lowers borrowed strings and lists
    and frees what wasmtime hands back; the host function reads its
    arguments and returns strings and lists wasmtime must own.  Every value
    is >= 100 bytes, so one leaked per call is >= 8 MiB over the 90,000
    measured calls (checked by hand: a host keeping each 4-element list
    argument grows 20 MiB; as written, 0 bytes).  In a subprocess, sized for
    CI: ~6 s per backend on a quiet 2-vCPU machine.
    """
    need_wasmjit_component()
    growth, elapsed = ownership_run("wasmjit", backend, OWNERSHIP_CALLS, OWNERSHIP_WARMUP)
    assert growth <= OWNERSHIP_GROWTH_LIMIT, (
        f"resident memory grew {growth / 2**20:.1f} MiB over {OWNERSHIP_CALLS - OWNERSHIP_WARMUP} calls "
        f"({elapsed:.1f} s)"
    )


def test_ownership_script_with_stock() -> None:
    """The ownership script itself, on stock (fewer calls: stock is ~10x slower): stock keeps memory flat too."""
    growth, _ = ownership_run("stock", None, 3_000, 500)
    assert growth <= OWNERSHIP_GROWTH_LIMIT, f"stock grew {growth / 2**20:.1f} MiB"


_LAST_RESULT_SCRIPT = textwrap.dedent(
    """
    import gc, os, sys
    import wasmtime, wasmtime.component as wc
    import wasmjit.component as wjc

    backend = None if sys.argv[1] == "-" else sys.argv[1]
    sys.path.insert(0, sys.argv[2])
    from component_gen import portable  # the text wasmtime 45 reads too

    SIZE = 1 << 20  # each result string: 1 MiB of wasmtime's heap, copied out of the guest
    text = '''
    (component
      (core module $m
        (memory (export "memory") 40)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 2097152))
        (func (export "make") (param $n i32) (result i32)
          (i32.store (i32.const 16) (i32.const 65536))
          (i32.store (i32.const 20) (local.get $n))
          (i32.const 16)))
      (core instance $i (instantiate $m))
      (func (export "make") (param "n" u32) (result string)
        (canon lift (core func $i "make") (memory (core memory $i "memory"))
          (realloc (core func $i "cabi_realloc")))))
    '''
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wc.Linker(engine).instantiate(store, wc.Component(engine, portable(text)))
    func = instance.get_func(store, "make")
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    def one_caller():
        make = wjc.typed(store, func, backend=backend)
        assert make(SIZE) == "\\0" * SIZE
        # A failed call leaves the previous result where it was, still valid.
        try:
            make(-1)
        except OverflowError:
            pass
        else:
            raise AssertionError("make(-1) did not raise")
        assert make(3) == "\\0" * 3 and make(SIZE) == "\\0" * SIZE

    for _ in range(20):
        one_caller()
    gc.collect()
    before = rss()
    for _ in range(200):  # each caller dies holding a 1 MiB result: 200 MiB if never freed
        one_caller()
    gc.collect()
    print(rss() - before)
    """
)


def test_ownership_last_result_freed_with_its_caller(backend: str) -> None:
    """A call leaves its result tree in the result slot for the next call's result to drop (one FFI
    call fewer per call); the last one is freed when the caller is collected.  200 callers each
    dying with a 1 MiB result: resident memory flat (200 MiB if the last result leaked)."""
    need_wasmjit_component()
    argv = [sys.executable, "-c", _LAST_RESULT_SCRIPT, backend or "-", str(Path(__file__).parent)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    growth = int(done.stdout.split()[-1])
    assert growth <= 32 * 2**20, f"resident memory grew {growth / 2**20:.1f} MiB over 200 callers"
