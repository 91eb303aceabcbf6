"""v128 is refused cleanly: wasmtime 50's C API cannot describe a v128 type.

``wasm_valtype_new(WASM_V128)`` and ``wasm_valtype_kind`` on a v128 type
abort the process inside wasmtime ("unexpected value type kind"), for
wasmtime-py as for wasmjit.  wasmjit therefore refuses the ``v128`` marker
with a ``TypeError`` that says why, before anything reaches the C API.  The
abort itself is shown in a subprocess so that the reason stays documented
by a test: if a future wasmtime can describe v128, that test fails and v128
support (already planned: ``Kind.V128``, 16-byte ``struct`` slots) can be
switched on.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import wasmtime

import wasmjit
from wasmjit import Kind, i32, v128

BACKENDS = ("bytecode", "source", "reflect")


@pytest.mark.parametrize("backend", BACKENDS)
def test_v128_parameter_is_refused_with_the_reason(backend: str) -> None:
    store = wasmtime.Store()

    def cb(x: v128) -> i32:
        return 0

    with pytest.raises(TypeError, match="v128 values cannot cross the boundary on wasmtime 50"):
        wasmjit.Function.from_callback(store, cb, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_v128_result_is_refused_with_the_reason(backend: str) -> None:
    store = wasmtime.Store()

    def cb() -> v128:
        return bytes(16)

    with pytest.raises(TypeError, match="cannot describe a v128 value type"):
        wasmjit.Function.from_callback(store, cb, backend=backend)


def test_v128_in_a_result_tuple_is_refused() -> None:
    def cb() -> tuple[i32, v128]:
        return 0, bytes(16)

    with pytest.raises(TypeError, match="v128"):
        wasmjit.Function.from_callback(wasmtime.Store(), cb)


def test_v128_valtype_is_refused_before_the_c_api() -> None:
    with pytest.raises(TypeError, match="v128"):
        Kind.V128.valtype()


def test_wasmtime_c_api_aborts_on_v128_types() -> None:
    # The upstream limitation this refusal exists for, in a process of its own.
    script = textwrap.dedent(
        """
        import ctypes
        from wasmtime import _ffi
        _ffi.wasm_valtype_new(ctypes.c_uint8(4))  # WASM_V128
        print("survived")
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "survived" not in run.stdout, (
        "wasmtime's C API can now describe v128: enable Kind.V128 in wasmjit.values and signature"
    )
    assert "unexpected value type kind" in run.stderr
