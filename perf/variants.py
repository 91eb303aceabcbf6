"""The variants every workload may be measured with, in report order.

``stock``     plain wasmtime-py
``floor``     the hand-written ctypes binding of :mod:`perf.floors`
``bytecode``, ``source``, ``reflect``
              wasmjit with that backend forced (``backend=``)
``install``   unmodified wasmtime-py code with ``wasmjit.install()`` active
``pywasm3``   the wasm3 interpreter, a reference column when installed

A new variant needs a name here (and a line in :data:`MEANING`, which the
report's legend prints) and a runner from each workload builder that
supports it; the report, the JSON and the plot pick it up from this tuple.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import wasmjit

__all__ = ["BACKENDS", "VARIANTS", "MEANING", "backends"]

BACKENDS: Tuple[str, ...] = ("bytecode", "source", "reflect")
VARIANTS: Tuple[str, ...] = ("stock", "floor", *BACKENDS, "install", "pywasm3")

#: What each variant is, for the legend under the table (a backend's line is shared by all three).
MEANING: Dict[str, str] = {
    "stock": "plain wasmtime-py, without wasmjit",
    "floor": "a hand-written ctypes binding of one signature: the fastest you could write by hand",
    "backend": "wasmjit with that backend forced",
    "install": "unmodified wasmtime-py code, run with wasmjit.install() active (dropin-* rows)",
    "pywasm3": "the wasm3 interpreter, for reference",
}


def backends(notes: List[str]) -> Tuple[str, ...]:
    """The wasmjit backends this interpreter allows (adding a note for each one it does not)."""
    allowed = wasmjit.probe()
    for name in BACKENDS:
        reason = allowed[name]
        note = f"wasmjit {name} backend unavailable: {reason}"
        if reason is not None and note not in notes:
            notes.append(note)
    return tuple(name for name in BACKENDS if allowed[name] is None)
