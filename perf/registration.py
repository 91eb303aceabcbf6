"""Registration cost: turning a Python callable into a host function.

``register-new``
    Every operation registers a callable whose signature this process has
    never seen: signatures are drawn once each from an endless supply
    (five or more parameters of i32/i64/f32/f64, results ``(f64, i32)``), so
    wasmjit generates a new trampoline every time.
``register-cached``
    Every operation registers a *new* callable (a fresh function object with
    its own annotations) of one signature, ``(i32, i64) -> f64``, that has
    been registered before: wasmjit only binds its cached template.

Stock is ``wasmtime.Func(store, wasmtime.FuncType(...), fn)`` including
building the ``FuncType`` from ``ValType``s, as user code does.  The floor
(cached signature only: a hand-written trampoline exists for one signature)
registers a hand-written thunk with a ``FuncType`` built once.  Building the
callables, and a new store for each run (on one engine per workload, so a
run never pays for the functions of the runs before it), is setup and stays
outside the timed part.
"""

from __future__ import annotations

import itertools
import time
import types
from typing import Any, Callable, Dict, Iterator, List, Tuple

import wasmtime

import wasmjit
from wasmjit import f32, f64, i32, i64

from . import floors
from .measure import Runner
from .variants import backends

__all__ = ["build_new", "build_cached"]

_KINDS = ("i32", "i64", "f32", "f64")
_MARKERS: Dict[str, Any] = {"i32": i32, "i64": i64, "f32": f32, "f64": f64}
_VALTYPES: Dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}
NEW_RESULTS = ("f64", "i32")
_NEW_RETURN = Tuple[f64, i32]

Signature = Tuple[str, ...]


def _signatures() -> Iterator[Signature]:
    for length in itertools.count(5):
        yield from itertools.product(_KINDS, repeat=length)


#: Shared by every variant, so no signature is ever handed out twice in a process.
_NEW: Iterator[Signature] = _signatures()

#: A code object per arity; each fresh callable is a new function around one of them.
_PROTOTYPES: Dict[int, Callable[..., Any]] = {
    5: lambda a0, a1, a2, a3, a4: None,
    6: lambda a0, a1, a2, a3, a4, a5: None,
    7: lambda a0, a1, a2, a3, a4, a5, a6: None,
    8: lambda a0, a1, a2, a3, a4, a5, a6, a7: None,
    9: lambda a0, a1, a2, a3, a4, a5, a6, a7, a8: None,
}


def _fresh_new() -> Tuple[Signature, Callable[..., Any]]:
    """A never-seen signature and a new annotated callable of it."""
    params = next(_NEW)
    prototype = _PROTOTYPES[len(params)]
    fn = types.FunctionType(prototype.__code__, prototype.__globals__, "host")
    annotations: Dict[str, Any] = {f"a{i}": _MARKERS[kind] for i, kind in enumerate(params)}
    annotations["return"] = _NEW_RETURN
    fn.__annotations__ = annotations
    return params, fn


def _fresh_cached() -> Callable[[int, int], float]:
    """A new function object (with its own annotations dict) of the cached signature."""

    def host(a, b):  # type: ignore[no-untyped-def]
        return 0.0

    host.__annotations__ = {"a": i32, "b": i64, "return": f64}
    return host


def _stock(store: wasmtime.Store, params: Signature, results: Signature, fn: Callable[..., Any]) -> None:
    vt = _VALTYPES
    wasmtime.Func(store, wasmtime.FuncType([vt[k]() for k in params], [vt[k]() for k in results]), fn)


def _runner(
    engine: wasmtime.Engine, fresh: Callable[[], Any], register: Callable[[wasmtime.Store, Any], object]
) -> Runner:
    """Each run: a new store on ``engine`` and ``n`` fresh items (setup), then ``n`` timed registrations."""

    def runner(n: int) -> float:
        store = wasmtime.Store(engine)
        batch = [fresh() for _ in range(n)]
        start = time.perf_counter_ns()
        for item in batch:
            register(store, item)
        return time.perf_counter_ns() - start

    return runner


def _wasmjit(backend: str) -> Callable[[wasmtime.Store, Callable[..., Any]], object]:
    def register(store: wasmtime.Store, fn: Callable[..., Any]) -> object:
        return wasmjit.Function.from_callback(store, fn, backend=backend)

    return register


def build_new(notes: List[str]) -> Dict[str, Runner]:
    engine = wasmtime.Engine()
    runners: Dict[str, Runner] = {
        "stock": _runner(engine, _fresh_new, lambda store, item: _stock(store, item[0], NEW_RESULTS, item[1]))
    }
    for backend in backends(notes):
        runners[backend] = _runner(engine, lambda: _fresh_new()[1], _wasmjit(backend))
    return runners


def build_cached(notes: List[str]) -> Dict[str, Runner]:
    engine = wasmtime.Engine()
    ty = floors.functype("i32 i64", "f64")
    runners: Dict[str, Runner] = {
        "stock": _runner(engine, _fresh_cached, lambda store, fn: _stock(store, ("i32", "i64"), ("f64",), fn)),
        "floor": _runner(engine, _fresh_cached, lambda store, fn: floors.registration(store, ty, fn)),
    }
    for backend in backends(notes):
        _wasmjit(backend)(wasmtime.Store(engine), _fresh_cached())  # now the signature is cached
        runners[backend] = _runner(engine, _fresh_cached, _wasmjit(backend))
    return runners
