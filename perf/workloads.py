"""The workloads, and for each the variants measured side by side.

The variants are listed in :mod:`perf.variants`.

Callback workloads time one call of the module's ``run(n)`` export (a wasm
loop calling the host function ``n`` times) and report nanoseconds per host
call.  Call workloads time a Python loop calling the export ``n`` times.  The
gcd loop (wasmtime-py issue 140) reports time per iteration including the
Python gcd itself (its timing loops are in :mod:`perf.loops`).  Registration
and allocation workloads are built in :mod:`perf.registration` and here, and
measured by :mod:`perf.measure` and :mod:`perf.allocations`.  The
component-model workloads (``component-*``, issue 11) are built in
:mod:`perf.component.build`.

Every build checks that all its variants compute what stock computes before
anything is timed.

To add a variant, name it in :data:`perf.variants.VARIANTS` and return a
runner for it from the builders below; to add a workload, append a
:class:`Workload` to :data:`WORKLOADS`.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import wasmtime

import wasmjit
from wasmjit import f32, f64, i32, i64

from . import dropin, floors, guest, memory, reference, registration, wasm
from .allocations import AllocCase
from .component import build as component
from .loops import bind_call, do_nothing, loop
from .measure import Runner
from .variants import BACKENDS, VARIANTS, backends

__all__ = ["VARIANTS", "BACKENDS", "Workload", "WORKLOADS", "select"]

#: ``build(notes)``: the variants of one workload (runners, or allocation cases).
Build = Callable[[List[str]], Mapping[str, Any]]


@dataclass(frozen=True)
class Workload:
    #: The workload's one name: its row in the table, its progress line, ``--only``, its targets, the JSON.
    key: str
    #: ``callback``, ``call``, ``loop``, ``dropin``, ``memory``, ``guest``, ``registration`` or ``allocation``.
    group: str
    #: What the report shows, and by what the per-operation value is divided for it.
    unit: str
    scale: float
    description: str
    build: Build
    #: The variants ``build`` returns where the interpreter allows them (known without building).
    variants: Tuple[str, ...] = ("stock", "floor", *BACKENDS)
    #: ``usable(notes)``: the wasmjit backends the build can use here (noting why one is left out).
    usable: Callable[[List[str]], Tuple[str, ...]] = backends

    @property
    def is_allocation(self) -> bool:
        return self.group == "allocation"

    def planned(self, notes: List[str]) -> Tuple[str, ...]:
        """The variants a build here will return: unusable backends and a missing pywasm3 left out."""
        usable = {"stock", "floor", "install", *self.usable(notes)}
        if reference.available():
            usable.add("pywasm3")
        return tuple(v for v in self.variants if v in usable)


# Host functions ----------------------------------------------------------------


def on_i32(x: i32) -> None:
    pass


def on_mix3(a: i32, b: f32, c: i64) -> Tuple[i32, i32, i64]:
    return a, a, c


def on_16(
    a0: i32, a1: i64, a2: f32, a3: f64, a4: i32, a5: i64, a6: f32, a7: f64,
    a8: i32, a9: i64, a10: f32, a11: f64, a12: i32, a13: i64, a14: f32, a15: f64,
) -> i64:  # fmt: skip
    return a1


def read_guest(caller: wasmtime.Caller, ptr: i32, length: i32) -> i32:
    memory = caller["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return len(memory.read(caller, ptr, ptr + length))


def python_gcd(x: i32, y: i32) -> i32:
    while y:
        x, y = y, x % y
    return abs(x)


GCD_ARGS = (16516842, 154654684)


# Callbacks (wasm -> host) ------------------------------------------------------------


def _instances(text: str, hosts: Mapping[str, wasmtime.Func], store: wasmtime.Store) -> Dict[str, wasmtime.Instance]:
    module = wasmtime.Module(store.engine, text)
    return {name: wasmtime.Instance(store, module, [host]) for name, host in hosts.items()}


def _callback_hosts(
    store: wasmtime.Store,
    host: Callable[..., Any],
    stock_type: Tuple[str, str],
    floor: Callable[[wasmtime.Store, Any], wasmtime.Func],
    notes: List[str],
    access_caller: bool = False,
) -> Dict[str, wasmtime.Func]:
    hosts: Dict[str, wasmtime.Func] = {
        "stock": wasmtime.Func(store, floors.functype(*stock_type), host, access_caller=access_caller),
        "floor": floor(store, host),
    }
    for backend in backends(notes):
        hosts[backend] = wasmjit.Function.from_callback(store, host, backend=backend)
    return hosts


def _wasm_loop_runner(run: Callable[..., None], *extra: int) -> Runner:
    def runner(n: int) -> float:
        start = time.perf_counter_ns()
        run(n, *extra)
        return time.perf_counter_ns() - start

    return runner


def _callback_build(
    text: str,
    host: Callable[..., Any],
    stock_type: Tuple[str, str],
    floor: Callable[[wasmtime.Store, Any], wasmtime.Func],
    wasm3_signature: str = "",
    access_caller: bool = False,
    extra: Sequence[int] = (),
) -> Build:
    def build(notes: List[str]) -> Dict[str, Runner]:
        store = wasmtime.Store()
        hosts = _callback_hosts(store, host, stock_type, floor, notes, access_caller)
        runners: Dict[str, Runner] = {}
        params = " ".join(["i32"] * (1 + len(extra)))
        expected = None
        for name, instance in _instances(text, hosts, store).items():
            run = instance.exports(store)["run"]
            assert isinstance(run, wasmtime.Func)
            got = run(store, 3, *extra)  # every variant must compute the same thing
            if expected is None:
                expected = got
            assert got == expected, f"{name} computed {got!r}, stock {expected!r}"
            runners[name] = _wasm_loop_runner(floors.driver(store, run, params), *extra)
        if wasm3_signature and reference.available():
            try:
                runner, got = reference.callback_runner(text, wasm3_signature, host, *extra)
                assert got == expected, f"pywasm3 computed {got!r}, stock {expected!r}"
                runners["pywasm3"] = runner
            except Exception as exc:  # a reference only: never fail the run for it
                notes.append(f"pywasm3 could not run a {wasm3_signature} callback: {type(exc).__name__}: {exc}")
        return runners

    return build


# Calls (host -> wasm) ------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def call_callables(
    export: str, floor: Callable[[wasmtime.Store, wasmtime.Func], Callable[..., Any]], args: Sequence[Any]
) -> Callable[[List[str]], Tuple[wasmtime.Store, Dict[str, Callable[..., Any]]]]:
    """``make(notes)``: the store, and per variant a callable taking ``args`` (stock's takes the store first)."""

    def make(notes: List[str]) -> Tuple[wasmtime.Store, Dict[str, Callable[..., Any]]]:
        store = wasmtime.Store()
        instance = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm.CALLS), [])
        func = instance.exports(store)[export]
        assert isinstance(func, wasmtime.Func)
        callables: Dict[str, Callable[..., Any]] = {"stock": func, "floor": floor(store, func)}
        for backend in backends(notes):
            callables[backend] = wasmjit.typed(store, func, backend=backend)
        expected = func(store, *args)
        for name, f in callables.items():
            got = f(store, *args) if name == "stock" else f(*args)
            assert _same(got, expected), f"{name} returned {got!r}, stock {expected!r}"
        return store, callables

    return make


def _call_build(
    export: str,
    floor: Callable[[wasmtime.Store, wasmtime.Func], Callable[..., Any]],
    args: Sequence[Any],
    wasm3: bool = False,
) -> Build:
    make = call_callables(export, floor, args)

    def build(notes: List[str]) -> Dict[str, Runner]:
        store, callables = make(notes)
        runners = {name: loop(f, store, *args) if name == "stock" else loop(f, *args) for name, f in callables.items()}
        if wasm3 and reference.available():
            try:
                function = reference.export(wasm.CALLS, export)
                assert _same(function(*args), callables["stock"](store, *args))
                runners["pywasm3"] = loop(function, *args)
            except Exception as exc:  # a reference only: never fail the run for it
                notes.append(f"pywasm3 could not call {export}: {type(exc).__name__}: {exc}")
        return runners

    return build


# Allocations ---------------------------------------------------------------------------


def _callback_alloc_build(
    text: str,
    host: Callable[..., Any],
    stock_type: Tuple[str, str],
    floor: Callable[[wasmtime.Store, Any], wasmtime.Func],
) -> Build:
    def build(notes: List[str]) -> Dict[str, AllocCase]:
        store = wasmtime.Store()
        hosts = _callback_hosts(store, host, stock_type, floor, notes)
        cases: Dict[str, AllocCase] = {}
        for name, instance in _instances(text, hosts, store).items():
            run_export = instance.exports(store)["run"]
            assert isinstance(run_export, wasmtime.Func)
            run = floors.driver(store, run_export, "i32")
            # The baseline enters wasm and runs the loop zero times.
            cases[name] = AllocCase(functools.partial(run, 1), functools.partial(run, 0), keep=store)
        return cases

    return build


def _call_alloc_build(
    export: str,
    floor: Callable[[wasmtime.Store, wasmtime.Func], Callable[..., Any]],
    args: Sequence[Any],
) -> Build:
    make = call_callables(export, floor, args)

    def build(notes: List[str]) -> Dict[str, AllocCase]:
        store, callables = make(notes)
        cases: Dict[str, AllocCase] = {}
        for name, f in callables.items():
            full = (store, *args) if name == "stock" else tuple(args)
            # The baseline calls a do-nothing Python function of the same arity.
            cases[name] = AllocCase(bind_call(f, full), bind_call(do_nothing(len(full)), full), keep=store)
        return cases

    return build


# The list --------------------------------------------------------------------------------

_SWAP_ARGS = (7, 9, 1.5, 2.5)
_WITH_WASM3 = ("stock", "floor", *BACKENDS, "pywasm3")

WORKLOADS: Tuple[Workload, ...] = (
    Workload(
        "callback-i32",
        "callback",
        "ns/call",
        1.0,
        "wasm calls a host (i32) -> () n times",
        _callback_build(wasm.CALLBACK_I32, on_i32, ("i32", ""), floors.callback_i32, "v(i)"),
        _WITH_WASM3,
    ),
    Workload(
        "callback-mix3",
        "callback",
        "ns/call",
        1.0,
        "wasm calls a host (i32, f32, i64) -> (i32, i32, i64) n times",
        _callback_build(wasm.CALLBACK_MIX3, on_mix3, ("i32 f32 i64", "i32 i32 i64"), floors.callback_mix3, "iiI(ifI)"),
        _WITH_WASM3,
    ),
    Workload(
        "callback-16",
        "callback",
        "ns/call",
        1.0,
        "wasm calls a host (i32, i64, f32, f64) x 4 -> i64 n times",
        _callback_build(
            wasm.CALLBACK_16,
            on_16,
            (" ".join(["i32", "i64", "f32", "f64"] * 4), "i64"),
            floors.callback_16,
            "I(" + "iIfF" * 4 + ")",
        ),
        _WITH_WASM3,
    ),
    Workload(
        "callback-caller",
        "callback",
        "ns/call",
        1.0,
        "wasm calls a host (Caller, i32, i32) -> i32 reading guest memory",
        _callback_build(wasm.CALLBACK_CALLER, read_guest, ("i32 i32", "i32"), floors.callback_caller, "", True),
    ),
    Workload(
        "gcd-loop",
        "loop",
        "ns/iter",
        1.0,
        "wasm loop calling a Python gcd(a, b) n times; time per iteration",
        _callback_build(wasm.GCD, python_gcd, ("i32 i32", "i32"), floors.callback_gcd, "i(ii)", extra=GCD_ARGS),
        _WITH_WASM3,
    ),
    Workload(
        "call-nop",
        "call",
        "ns/call",
        1.0,
        "Python calls a wasm () -> () n times",
        _call_build("nop", floors.call_nop, (), wasm3=True),
        _WITH_WASM3,
    ),
    Workload(
        "call-add",
        "call",
        "ns/call",
        1.0,
        "Python calls a wasm (i32, i32) -> i32 n times",
        _call_build("add", floors.call_add, (3, 4), wasm3=True),
        _WITH_WASM3,
    ),
    Workload(
        "call-swap4",
        "call",
        "ns/call",
        1.0,
        "Python calls a wasm (i32, i64, f32, f64) -> (f64, f32, i64, i32)",
        _call_build("swap", floors.call_swap4, _SWAP_ARGS, wasm3=True),
        _WITH_WASM3,
    ),
    Workload(
        "dropin-callback",
        "dropin",
        "ns/call",
        1.0,
        "unmodified wasmtime-py code: a host Func called n times by wasm",
        dropin.build_callback_loop,
        ("stock", "install"),
    ),
    Workload(
        "dropin-call",
        "dropin",
        "ns/call",
        1.0,
        "unmodified wasmtime-py code: add(store, 3, 4) called n times",
        dropin.build_call_loop,
        ("stock", "install"),
    ),
    Workload(
        "memory-write-1m",
        "memory",
        "us/MiB",
        1e3,
        "copy 1 MiB into guest memory: Memory.write (wasmjit.Memory in the default backend's column)",
        memory.build_write,
        ("stock", "floor", memory.DEFAULT_BACKEND),
    ),
    Workload(
        "memory-read-into-1m",
        "memory",
        "us/MiB",
        1e3,
        "copy 1 MiB of guest memory into a buffer: read_into (stock: Memory.read, then copy)",
        memory.build_read_into,
        ("stock", "floor", memory.DEFAULT_BACKEND),
    ),
    Workload(
        "memory-callback-read",
        "memory",
        "ns/call",
        1.0,
        'wasm calls a host reading 32 bytes: caller.memory().read vs caller["memory"].read(caller, ...)',
        memory.build_callback_read,
    ),
    Workload(
        "callback-pair",
        "guest",
        "ns/call",
        1.0,
        "wasm calls an empty host (i32, i32) -> i32: the baseline of the guest-data callbacks",
        guest.build_pair,
        ("stock", *BACKENDS),
    ),
    Workload(
        "guest-log-32",
        "guest",
        "ns/call",
        1.0,
        "wasm calls log(msg: wasmjit.Str) -> i32 with 32 bytes of UTF-8",
        guest.build_log,
    ),
    Workload(
        "guest-greet-32",
        "guest",
        "ns/call",
        1.0,
        "wasm calls greet(name: Str) -> str copied into guest memory through its allocator",
        guest.build_greet,
        ("stock", *BACKENDS),
    ),
    Workload(
        "guest-checksum-1k",
        "guest",
        "ns/call",
        1.0,
        "typed checksum(data: Bytes) -> i32 with 1 KiB: alloc, copy in, call, free",
        guest.build_checksum,
    ),
    Workload(
        "dropin-memory-callback",
        "dropin",
        "ns/call",
        1.0,
        'unmodified wasmtime-py code: a host Func reading 32 bytes with caller["memory"].read',
        memory.build_dropin_callback,
        ("stock", "install"),
    ),
    Workload(
        "dropin-memory-loop",
        "dropin",
        "ns/iter",
        1.0,
        "unmodified wasmtime-py code: alloc, Memory.write, call, Memory.read, free (64 bytes)",
        memory.build_dropin_loop,
        ("stock", "install"),
    ),
    Workload(
        "register-new",
        "registration",
        "us/reg",
        1e3,
        "registering a host function of a signature never seen before",
        registration.build_new,
        ("stock", *BACKENDS),
    ),
    Workload(
        "register-cached",
        "registration",
        "us/reg",
        1e3,
        "registering a host function of an already registered signature",
        registration.build_cached,
    ),
    Workload(
        "alloc-callback-i32",
        "allocation",
        "B/1k calls",
        1.0,
        "bytes allocated per 1,000 callback-i32 calls (tracemalloc)",
        _callback_alloc_build(wasm.CALLBACK_I32, on_i32, ("i32", ""), floors.callback_i32),
    ),
    Workload(
        "alloc-callback-mix3",
        "allocation",
        "B/1k calls",
        1.0,
        "bytes allocated per 1,000 callback-mix3 calls (tracemalloc)",
        _callback_alloc_build(wasm.CALLBACK_MIX3, on_mix3, ("i32 f32 i64", "i32 i32 i64"), floors.callback_mix3),
    ),
    Workload(
        "alloc-call-add",
        "allocation",
        "B/1k calls",
        1.0,
        "bytes allocated per 1,000 call-add calls (tracemalloc)",
        _call_alloc_build("add", floors.call_add, (3, 4)),
    ),
    Workload(
        "alloc-call-swap4",
        "allocation",
        "B/1k calls",
        1.0,
        "bytes allocated per 1,000 call-swap4 calls (tracemalloc)",
        _call_alloc_build("swap", floors.call_swap4, _SWAP_ARGS),
    ),
)


def _component_workloads() -> Tuple[Workload, ...]:
    """``component-*``: wasmjit.component against stock wasmtime-py and a hand-written floor (issue 11)."""
    calls = {
        "add": ("add(a: u32, b: u32) -> u32", "ns/call", 1.0),
        "nop": ("nop()", "ns/call", 1.0),
        "greet": ('greet(name: string) -> string ("hello, " + name)', "ns/call", 1.0),
        "norm": ("norm(p: point{x: f64, y: f64}) -> f64 (the record as a dataclass)", "ns/call", 1.0),
        "option": ("bump-option(x: option<u32>) -> option<u32> with some(41)", "ns/call", 1.0),
        "result": ("bump-result(x: result<u32, string>) -> result<u32, string> with ok(41)", "ns/call", 1.0),
        "enum": ("next-color(c: color) -> color (an enum.Enum)", "ns/call", 1.0),
        "flags": ("invert(p: perms) -> perms (an enum.Flag; 1 flag in, 2 out)", "ns/call", 1.0),
        "variant": ("grow(s: shape) -> shape (a Union of case classes) with circle(1.5)", "ns/call", 1.0),
        "sum": (f"sum(xs: list<u32>) -> u32 with {component.LIST_LENGTH:,} elements", "us/call", 1e3),
        "echo": (f"echo(xs: list<u32>) -> list<u32> with {component.LIST_LENGTH:,} elements", "us/call", 1e3),
    }
    out = [
        Workload(
            f"component-{key}" if key not in ("sum", "echo") else f"component-{key}-1k",
            "component",
            unit,
            scale,
            f"Python calls the component export {what}",
            component.build_export(key),
            usable=component.backends,
        )
        for key, (what, unit, scale) in calls.items()
    ]
    out += [
        Workload(
            f"component-host-{key}",
            "component",
            "ns/call",
            1.0,
            f"a component calls the imported host {calls[key][0].split(' (')[0].split(' with')[0]} n times",
            component.build_host(key),
            usable=component.backends,
        )
        for key in component.HOST_CASES
    ]
    out += [
        Workload(
            "component-register-new",
            "registration",
            "us/reg",
            1e3,
            "wasmjit.component.typed of a function whose WIT signature was never seen before",
            component.build_register_new,
            BACKENDS,
            component.backends,
        ),
        Workload(
            "component-register-cached",
            "registration",
            "us/reg",
            1e3,
            "wasmjit.component.typed of add again (floor: building its hand-written binding)",
            component.build_register_cached,
            ("floor", *BACKENDS),
            component.backends,
        ),
    ]
    return tuple(out)


WORKLOADS += _component_workloads()


def select(pattern: str = "") -> Tuple[Workload, ...]:
    """Workloads whose key contains ``pattern`` (case-insensitive; a regular expression)."""
    import re

    if not pattern:
        return WORKLOADS
    regex = re.compile(pattern, re.IGNORECASE)
    return tuple(w for w in WORKLOADS if regex.search(w.key))
