"""v128 parameters and results of wasmjit callbacks, on every backend.

wasmtime-py's own ``ValType``/``FuncType`` cannot describe v128 (its C API's
``wasm_valtype_kind`` and ``wasm_valtype_new`` abort the process on it), so
wasmjit builds and identifies v128 types itself (``wasmtime_wasm_valtype_v128``
and ``wasmtime_wasm_valtype_equal``).  Values are checked through wasm code:
the exports take and return i64 lane pairs and build or split the vector
with ``i64x2.splat`` / ``replace_lane`` / ``extract_lane``
(``wasm_helpers.forwarding_wat``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import wasmtime
from wasm_helpers import forwarding_wat, instantiate, lanes_of_v128, v128_from_lanes

import wasmjit
from wasmjit import Kind, i32, i64, v128

EDGES = [bytes(16), b"\xff" * 16, bytes(range(16)), b"\x80" + bytes(15), bytes(15) + b"\x80"]


def test_v128_parameter(backend: str) -> None:
    store = wasmtime.Store()
    seen = []

    def cb(x: v128) -> i64:
        seen.append(x)
        low, high = lanes_of_v128(x)
        return (low ^ high) & 0x7FFFFFFFFFFFFFFF

    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    assert host.backend == backend
    run = instantiate(store, forwarding_wat(["v128"], ["i64"]), [host])["run"]
    for vector in EDGES:
        low, high = lanes_of_v128(vector)
        assert run(store, low, high) == (low ^ high) & 0x7FFFFFFFFFFFFFFF
        assert seen[-1] == vector and type(seen[-1]) is bytes


def test_v128_result_accepts_bytes_like_of_16(backend: str) -> None:
    store = wasmtime.Store()
    queue: list = []

    def cb() -> v128:
        return queue.pop(0)

    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    run = instantiate(store, forwarding_wat([], ["v128"]), [host])["run"]
    for value in (bytes(range(16, 32)), bytearray(b"\x80" * 16), memoryview(b"\x01" * 16)):
        queue.append(value)
        low, high = run(store)
        assert v128_from_lanes(low, high) == bytes(value)


@pytest.mark.parametrize(
    ("bad", "error"), [(b"short", ValueError), (bytes(17), ValueError), (16, TypeError), (None, TypeError)]
)
def test_v128_result_of_the_wrong_size_or_kind(backend: str, bad: object, error: type) -> None:
    store = wasmtime.Store()

    def cb() -> v128:
        return bad  # type: ignore[return-value]

    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    run = instantiate(store, forwarding_wat([], ["v128"]), [host])["run"]
    with pytest.raises(error, match="result 0 of"):
        run(store)


def test_v128_mixed_with_other_kinds(backend: str) -> None:
    store = wasmtime.Store()

    def cb(a: i32, x: v128, b: i64) -> tuple[v128, i32]:
        return bytes(reversed(x)), a + 1

    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    run = instantiate(store, forwarding_wat(["i32", "v128", "i64"], ["v128", "i32"]), [host])["run"]
    vector = bytes(range(16))
    low, high = lanes_of_v128(vector)
    got_low, got_high, a = run(store, 41, low, high, 5)
    assert v128_from_lanes(got_low, got_high) == bytes(reversed(vector))
    assert a == 42


def test_v128_type_from_a_module_import(backend: str) -> None:
    store = wasmtime.Store()
    wat = forwarding_wat(["v128"], ["v128"])
    module = wasmtime.Module(store.engine, wat)
    ty = module.imports[0].type
    host = wasmjit.Function.from_callback(store, lambda x: x, type=ty, backend=backend)
    assert host.signature.params == (Kind.V128,)
    exports = wasmtime.Instance(store, module, [host]).exports(store)
    assert exports["run"](store, -1, 7) == [-1, 7]


def test_v128_through_a_typed_outer_call() -> None:
    store = wasmtime.Store()

    def cb(x: v128) -> v128:
        return x[8:] + x[:8]

    host = wasmjit.Function.from_callback(store, cb)
    assert wasmjit.typed(store, host)(bytes(range(16))) == bytes(range(8, 16)) + bytes(range(8))


def test_typed_references_are_a_type_error_not_an_abort() -> None:
    # wasm_valtype_kind aborts on typed references too; wasmjit must refuse them cleanly.
    script = textwrap.dedent(
        """
        import wasmtime, wasmjit
        # Typed references need these proposals; wasmtime < 47 leaves them off by default.
        config = wasmtime.Config()
        config.wasm_function_references = True
        config.wasm_gc = True
        store = wasmtime.Store(wasmtime.Engine(config))
        module = wasmtime.Module(store.engine, '(module (import "" "f" (func (param (ref func)))))')
        try:
            wasmjit.Function.from_callback(store, lambda f: None, type=module.imports[0].type)
        except TypeError as exc:
            print("TypeError:", exc)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "TypeError: this function uses a wasm value type wasmjit does not support" in run.stdout
