"""Callbacks that receive the ``Caller``: guest memory, exports, invalidation."""

import ctypes
from typing import Any, List

import pytest
import wasmtime
from wasm_helpers import functype, instantiate

import wasmjit
from wasmjit import externref, funcref, i32, i64

GUEST = """(module
  (import "host" "f" (func $f (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, wasm")
  (func (export "run") (param i32 i32) (result i32) (call $f (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "triple") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))"""


def test_caller_reads_guest_memory_three_ways(store, backend):
    reads: List[Any] = []

    def peek(caller: wasmtime.Caller, ptr: i32, length: i32) -> i32:
        assert isinstance(caller, wasmtime.Caller)
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        via_read = memory.read(caller, ptr, ptr + length)
        via_ptr = bytes(memory.data_ptr(caller)[ptr : ptr + length])
        base = ctypes.addressof(memory.data_ptr(caller).contents)
        via_address = ctypes.string_at(base + ptr, length)
        reads.append((via_read, via_ptr, via_address, memory.data_len(caller)))
        return sum(via_read)

    host = wasmjit.Function.from_callback(store, peek, backend=backend)
    assert host.signature.wants_caller
    assert host.signature.params == (wasmjit.Kind.I32, wasmjit.Kind.I32)
    exports = instantiate(store, GUEST, [host])
    assert exports["run"](store, 16, 11) == sum(b"hello, wasm")
    assert reads == [(b"hello, wasm", b"hello, wasm", b"hello, wasm", 65536)]


def test_caller_writes_guest_memory(store, backend):
    def poke(caller: wasmtime.Caller, ptr: i32, value: i32) -> i32:
        memory = caller.get("memory")
        memory.write(caller, bytes([value]) * 4, ptr)
        return memory.size(caller)

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, poke, backend=backend)])
    assert exports["run"](store, 100, 0xAB) == 1
    assert [exports["load"](store, 100 + i) for i in range(5)] == [0xAB] * 4 + [0]


def test_caller_calls_back_into_the_instance(store, backend):
    def reenter(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        return caller["triple"](caller, a) + b

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, reenter, backend=backend)])
    assert exports["run"](store, 5, 1) == 16


def test_caller_get_unknown_export_is_none(store, backend):
    looked: List[Any] = []

    def probe(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        looked.append(caller.get("no such export"))
        with pytest.raises(KeyError):
            caller["no such export"]
        return 0

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, probe, backend=backend)])
    exports["run"](store, 0, 0)
    assert looked == [None]


def check_invalidated(caller: Any) -> None:
    """Using a caller after its callback returned fails cleanly."""
    assert caller.get("memory") is None
    with pytest.raises(KeyError):
        caller["memory"]
    with pytest.raises(ValueError):
        caller._context()


def test_saved_caller_is_invalid_after_return(store, backend):
    saved: List[Any] = []

    def keep(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        memory = caller["memory"]
        saved.append((caller, memory))
        memory.data_ptr(caller)[0] = a & 0xFF  # written through the caller, seen through the store
        return a + memory.data_len(caller)

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, keep, backend=backend)])
    assert exports["run"](store, 2, 3) == 2 + 65536
    caller, memory = saved[0]
    assert memory.data_ptr(store)[0] == 2
    check_invalidated(caller)
    with pytest.raises(ValueError):
        memory.read(caller, 0, 4)
    with pytest.raises(ValueError):
        memory.data_ptr(caller)
    with pytest.raises(ValueError):
        memory.data_len(caller)
    with pytest.raises(ValueError):
        memory.size(caller)
    with pytest.raises(ValueError):
        exports["triple"](caller, 1)
    # The memory itself is fine through the store.
    assert memory.read(store, 16, 21) == b"hello"
    # Callers are per call: the next call (here a typed one) gets a fresh, valid one.
    assert wasmjit.typed(store, exports["run"], backend=backend)(7, 5) == 7 + 65536
    assert saved[1][0] is not caller
    check_invalidated(saved[1][0])
    store.close()
    assert caller.get("memory") is None


def test_saved_caller_is_invalid_after_the_callback_raised(store, backend):
    saved: List[Any] = []
    error = LookupError("raised with a caller")

    def fail(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        saved.append(caller)
        raise error

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, fail, backend=backend)])
    with pytest.raises(LookupError) as info:
        exports["run"](store, 0, 0)
    assert info.value is error
    check_invalidated(saved[0])


def test_saved_caller_is_invalid_after_a_bad_result(store, backend):
    saved: List[Any] = []

    def bad(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        saved.append(caller)
        return "not an int"  # type: ignore[return-value]

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, bad, backend=backend)])
    with pytest.raises(TypeError, match="result 0 of"):
        exports["run"](store, 0, 0)
    check_invalidated(saved[0])


def test_saved_caller_is_invalid_after_an_exact_path_result(store, backend):
    saved: List[Any] = []

    def unsigned(caller: wasmtime.Caller, a: i32, b: i32) -> i32:
        saved.append(caller)
        return 0xFFFF_FFFF

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, unsigned, backend=backend)])
    assert exports["run"](store, 0, 0) == -1
    check_invalidated(saved[0])


def test_access_caller_keyword_with_type(store, backend):
    def untyped(caller, a, b):
        return caller["load"](caller, a) + b

    host = wasmjit.Function.from_callback(
        store, untyped, type=functype(["i32", "i32"], ["i32"]), access_caller=True, backend=backend
    )
    assert host.signature.wants_caller
    exports = instantiate(store, GUEST, [host])
    assert exports["run"](store, 16, 1000) == ord("h") + 1000


def test_access_caller_with_varargs_callable(store, backend):
    got: List[Any] = []

    def anything(*args):
        got.append(args)
        return args[1] * 2

    host = wasmjit.Function.from_callback(
        store, anything, type=functype(["i32", "i32"], ["i32"]), access_caller=True, backend=backend
    )
    exports = instantiate(store, GUEST, [host])
    assert exports["run"](store, 21, 0) == 42
    assert isinstance(got[0][0], wasmtime.Caller) and got[0][1:] == (21, 0)


def test_wasmjit_caller_annotation_works_too(store, backend):
    def peek(caller: wasmjit.Caller, ptr: i32, length: i32) -> i32:
        return len(caller["memory"].read(caller, ptr, ptr + length))

    exports = instantiate(store, GUEST, [wasmjit.Function.from_callback(store, peek, backend=backend)])
    assert exports["run"](store, 0, 7) == 7


def test_access_caller_false_with_caller_annotation_is_a_type_error(store):
    def peek(caller: wasmtime.Caller, ptr: i32) -> i32:
        return ptr

    with pytest.raises(TypeError, match="Caller"):
        wasmjit.Function.from_callback(store, peek, access_caller=False)


def test_caller_with_reference_parameters_and_results(store, backend):
    """Reference kinds need the store context; the caller must still work."""
    token = object()
    seen: List[Any] = []

    def refs(caller: wasmtime.Caller, f: funcref, x: externref, n: i64) -> tuple[externref, funcref, i64]:
        seen.append(caller.get("memory") is not None)
        return x, f, n + caller["triple"](caller, 2)

    wat = """(module
      (import "host" "f" (func $f (param funcref externref i64) (result externref funcref i64)))
      (memory (export "memory") 1)
      (func (export "triple") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func (export "run") (param funcref externref i64) (result externref funcref i64)
        (call $f (local.get 0) (local.get 1) (local.get 2))))"""
    host = wasmjit.Function.from_callback(store, refs, backend=backend)
    exports = instantiate(store, wat, [host])
    seven = wasmtime.Func(store, functype([], ["i32"]), lambda: 7)
    x, f, n = exports["run"](store, seven, token, 10)
    assert x is token and f(store) == 7 and n == 16
    assert seen == [True]


def test_stock_func_caller_behaves_the_same(store):
    """Reference behaviour: wasmtime-py's own Caller is invalidated the same way."""
    saved: List[Any] = []

    def keep(caller, a, b):
        saved.append(caller)
        return a + b

    host = wasmtime.Func(store, functype(["i32", "i32"], ["i32"]), keep, access_caller=True)
    instantiate(store, GUEST, [host])["run"](store, 1, 2)
    check_invalidated(saved[0])


def test_recursion_through_wasm_reuses_slots_correctly(store, backend):
    """wasm -> host -> wasm -> host ...: each level's results land in its own slots."""

    def fib(caller: wasmtime.Caller, n: i32) -> tuple[i64, i64]:
        if n < 2:
            return n, 1
        a, calls_a = caller["fib"](caller, n - 1)
        b, calls_b = caller["fib"](caller, n - 2)
        return a + b, calls_a + calls_b + 1

    wat = """(module
      (import "host" "fib" (func $fib (param i32) (result i64 i64)))
      (func (export "fib") (param i32) (result i64 i64) (call $fib (local.get 0))))"""
    exports = instantiate(store, wat, [wasmjit.Function.from_callback(store, fib, backend=backend)])
    assert exports["fib"](store, 15) == [610, 1973]
    assert wasmjit.typed(store, exports["fib"])(12) == (144, 465)
