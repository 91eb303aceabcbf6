"""Golden files of ``wasmjit.explain()``: what each backend lists for a few signatures.

The goldens live in tests/golden/explain/, one text file per (direction,
signature, backend).  Regenerate them after an intended change with::

    WASMJIT_UPDATE_GOLDEN=1 python -m pytest tests/test_explain_golden.py

and review the diff.  What varies between runs is normalised first: object
addresses (``0x7f...`` -> ``0x?``) and the counter in generated filenames
(``#12`` -> ``#N``).  The ``bytecode`` listing starts with a disassembly whose
instructions differ between CPython minor versions: its golden holds the
header and the "equivalent Python:" part, and the disassembly is checked
here for what every version shows (the program's statements by line number,
the constants it loads).
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Callable, Dict, Tuple

import pytest
import wasmtime
from wasm_helpers import instance_exports

import wasmjit
from wasmjit import externref, f32, i32, i64

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "explain"
UPDATE = os.environ.get("WASMJIT_UPDATE_GOLDEN", "") not in ("", "0")
BACKENDS = wasmjit.backends.BACKENDS
EQUIVALENT = "\nequivalent Python:\n"


# Callbacks (module level: their names are stable) ----------------------------------


def consume(x: i32) -> None:
    pass


def mix(a: i32, b: f32, c: i64) -> tuple[i32, i32, i64]:
    return a, a, c


def with_caller(caller: wasmtime.Caller, x: i32) -> i32:
    return x


def pass_ref(ref: externref) -> externref:
    return ref


CALLBACKS: Dict[str, Callable[..., Any]] = {
    "i32__none": consume,
    "i32_f32_i64__i32_i32_i64": mix,
    "caller_i32__i32": with_caller,
    "externref__externref": pass_ref,
}

# Typed calls -------------------------------------------------------------------------

CALLS_WAT = """
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "nop"))
  (func (export "swap") (param i64 f64) (result f64 i64 i32) (local.get 1) (local.get 0) (i32.const 7))
  (func (export "pick") (param funcref) (result funcref) (local.get 0)))
"""

CALLS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "add": ("add", {"name": "add"}),
    "nop": ("nop", {}),
    "multi_result": ("swap", {}),
    "funcref": ("pick", {}),
}


# Normalising and comparing ------------------------------------------------------------


def normalise(text: str) -> str:
    text = re.sub(r"0x[0-9a-fA-F]+", "0x?", text)
    text = re.sub(r"#\d+", "#N", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def split_bytecode(listing: str) -> Tuple[str, str, str]:
    """``(header, disassembly, equivalent Python)`` of a bytecode listing."""
    head, _, rest = listing.partition("\n\n")
    disassembly, found, python = rest.partition(EQUIVALENT)
    assert found, f"no {EQUIVALENT!r} in the bytecode listing:\n{listing}"
    return head, disassembly, python


def goldened(backend: str, listing: str) -> str:
    """The part of ``listing`` kept in the golden file."""
    if backend != "bytecode":
        return normalise(listing)
    head, _, python = split_bytecode(listing)
    return normalise(f"{head}\n\n[disassembly: checked by test_explain_golden.py, not goldened]{EQUIVALENT}{python}")


def check_disassembly(listing: str) -> None:
    """What the disassembly shows on every CPython version the bytecode backend targets."""
    _, disassembly, python = split_bytecode(listing)
    assert "RETURN_VALUE" in disassembly or "RETURN_CONST" in disassembly, disassembly
    lines = python.splitlines()
    # Every statement line of the equivalent Python (the def is line 1) has instructions.
    statement_lines = {
        number for number, line in enumerate(lines, 1) if number > 2 and line.strip() and not line.strip() == "try:"
    }
    shown = {int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s", disassembly, re.MULTILINE)}
    assert statement_lines <= shown, (sorted(statement_lines - shown), disassembly)


def compare(name: str, backend: str, listing: str) -> None:
    path = GOLDEN / f"{name}.{backend}.txt"
    text = goldened(backend, listing)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run WASMJIT_UPDATE_GOLDEN=1 python -m pytest {__file__}"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"explain() differs from {path} (regenerate with WASMJIT_UPDATE_GOLDEN=1 if intended)"


# The tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CALLBACKS)
def test_callback_explain_matches_its_golden(name: str, backend: str, store: wasmtime.Store) -> None:
    host = wasmjit.Function.from_callback(store, CALLBACKS[name], backend=backend)
    listing = wasmjit.explain(host)
    if backend == "bytecode":
        check_disassembly(listing)
    compare(f"callback-{name}", backend, listing)


@pytest.mark.parametrize("name", CALLS)
def test_typed_call_explain_matches_its_golden(name: str, backend: str) -> None:
    export, options = CALLS[name]
    store, exports = instance_exports(CALLS_WAT)
    call = wasmjit.typed(store, exports[export], backend=backend, **options)
    listing = wasmjit.explain(call)
    if backend == "bytecode":
        check_disassembly(listing)
    compare(f"call-{name}", backend, listing)


def test_every_golden_file_is_used() -> None:
    """No golden is left behind by a renamed or removed case."""
    expected = {f"callback-{n}.{b}.txt" for n in CALLBACKS for b in BACKENDS}
    expected |= {f"call-{n}.{b}.txt" for n in CALLS for b in BACKENDS}
    present = {path.name for path in GOLDEN.glob("*.txt")}
    assert present <= expected, sorted(present - expected)
    if not UPDATE:
        assert expected <= present, sorted(expected - present)


def test_normalise_removes_what_varies() -> None:
    text = "<function f at 0x7f00deadbeef> in <wasmjit-source callback_i32__none #12>  \n"
    assert normalise(text) == "<function f at 0x?> in <wasmjit-source callback_i32__none #N>\n"
