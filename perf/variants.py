"""The variants every workload may be measured with, in report order.

``stock``     plain wasmtime-py
``floor``     the hand-written ctypes binding of :mod:`perf.floors`
``bytecode``, ``source``, ``reflect``
              wasmjit with that backend forced (``backend=``)
``install``   unmodified wasmtime-py code with ``wasmjit.install()`` active
``pywasm3``   the wasm3 interpreter, a reference column when installed

A new variant needs a name here
and a runner from each workload builder that supports it; the report, the
JSON and the plot pick it up from this tuple.
"""

from __future__ import annotations

from typing import List, Tuple

import wasmjit

__all__ = ["BACKENDS", "VARIANTS", "backends"]

BACKENDS: Tuple[str, ...] = ("bytecode", "source", "reflect")
VARIANTS: Tuple[str, ...] = ("stock", "floor", *BACKENDS, "install", "pywasm3")


def backends(notes: List[str]) -> Tuple[str, ...]:
    """The wasmjit backends this interpreter allows (adding a note for each one it does not)."""
    allowed = wasmjit.probe()
    for name in BACKENDS:
        reason = allowed[name]
        note = f"wasmjit {name} backend unavailable: {reason}"
        if reason is not None and note not in notes:
            notes.append(note)
    return tuple(name for name in BACKENDS if allowed[name] is None)
