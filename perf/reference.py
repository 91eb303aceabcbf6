"""pywasm3, an interpreter with its own Python binding, as a reference column.

Never a dependency: when ``wasm3`` is not importable the column is left out
and the report says so.  The same WAT modules are compiled to binary with
``wasmtime.wat2wasm`` and linked with pywasm3's signature strings (results
first, then parameters: ``"i(ii)"``); a workload whose shape pywasm3 cannot
express (a callback that needs the caller) gets no pywasm3 figure, and any
pywasm3 failure becomes a note, never a failed run.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable, List, Tuple

from . import wasm
from .measure import Runner

__all__ = ["available", "callback_runner", "export"]

STACK_BYTES = 64 * 1024

#: pywasm3 objects that must outlive the functions handed out (a few per run; never released).
_KEEP: List[Any] = []


def available() -> bool:
    """Whether ``import wasm3`` would work."""
    return importlib.util.find_spec("wasm3") is not None


def _runtime(text: str) -> Any:
    import wasm3

    environment = wasm3.Environment()
    runtime = environment.new_runtime(STACK_BYTES)
    module = environment.parse_module(wasm.binary(text))
    runtime.load(module)
    return environment, runtime, module


def callback_runner(text: str, signature: str, host: Callable[..., Any], *run_args: int) -> Tuple[Runner, Any]:
    """A runner timing ``run(n, *run_args)`` of ``text`` with ``host.f`` linked to ``host`` as
    ``signature``, and what ``run(3, *run_args)`` returned (to check it against wasmtime)."""
    environment, runtime, module = _runtime(text)
    module.link_function("host", "f", signature, host)
    run = runtime.find_function("run")
    _KEEP.append((environment, runtime, module, run))

    def runner(n: int) -> float:
        start = time.perf_counter_ns()
        run(n, *run_args)
        return time.perf_counter_ns() - start

    return runner, run(3, *run_args)


def export(text: str, name: str) -> Callable[..., Any]:
    """The export ``name`` of ``text`` as a pywasm3 function (its runtime is kept alive in :data:`_KEEP`)."""
    environment, runtime, module = _runtime(text)
    function = runtime.find_function(name)
    _KEEP.append((environment, runtime, module, function))
    return function  # type: ignore[no-any-return]
