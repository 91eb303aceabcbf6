"""Lifetimes: what wasm can call stays alive; everything is released with its store."""

import gc
import weakref
from typing import Any, List

import pytest
import wasmtime
from wasm_helpers import forwarding_wat, functype, instantiate

import wasmjit
from wasmjit import externref, i32, i64
from wasmjit.boundary.lifetimes import live_owners

WAT = forwarding_wat(["i32"], ["i32"], carriers=False)


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: i32) -> i32:
        self.calls += 1
        return x + self.calls


def test_dropped_function_object_keeps_working(backend):
    store = wasmtime.Store()
    counter = Counter()
    host = wasmjit.Function.from_callback(store, counter, backend=backend)
    run = instantiate(store, WAT, [host])["run"]
    host_ref = weakref.ref(host)
    del host, counter
    gc.collect()
    assert host_ref() is None  # the Python object is gone ...
    assert run(store, 10) == 11  # ... wasm still calls the callback
    gc.collect()
    assert run(store, 10) == 12
    assert wasmjit.typed(store, run)(10) == 13


def test_callback_only_referenced_by_wasm_stays_alive(backend):
    store = wasmtime.Store()
    exports = instantiate(
        store,
        WAT,
        [wasmjit.Function.from_callback(store, lambda x: x * 5, type=functype(["i32"], ["i32"]), backend=backend)],
    )
    gc.collect()
    assert exports["run"](store, 3) == 15


def test_function_only_in_a_table_stays_alive(backend):
    store = wasmtime.Store()
    table = wasmtime.Table(store, wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(1, None)), None)
    table.set(store, 0, wasmjit.Function.from_callback(store, Counter(), backend=backend))
    gc.collect()
    assert table.get(store, 0)(store, 1) == 2


def test_linker_defined_callback_outlives_the_linker(backend):
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    linker.define_callback("host", "f", Counter(), backend=backend)
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, wasmtime.Module(engine, WAT)).exports(store)["run"]
    del linker
    gc.collect()
    assert run(store, 1) == 2


def test_owners_return_to_baseline_after_stores_are_dropped(backend):
    gc.collect()
    baseline = live_owners()
    callbacks: List[Any] = []
    stores = [wasmtime.Store() for _ in range(3)]
    for store in stores:
        for _ in range(20):
            counter = Counter()
            callbacks.append(weakref.ref(counter))
            wasmjit.Function.from_callback(store, counter, backend=backend)
        instantiate(store, WAT, [wasmjit.Function.from_callback(store, Counter(), backend=backend)])["run"](store, 1)
    gc.collect()  # every Function object is gone: the stores still hold the functions
    assert live_owners() == baseline + 3 * 21, "released while the store still holds the functions"
    del stores, store, counter
    gc.collect()
    assert live_owners() == baseline
    assert all(ref() is None for ref in callbacks)  # no callable leaked


def test_closing_a_store_releases_its_owners(backend):
    gc.collect()
    baseline = live_owners()
    store = wasmtime.Store()
    hosts = [wasmjit.Function.from_callback(store, Counter(), backend=backend) for _ in range(5)]
    assert live_owners() == baseline + 5
    store.close()
    assert live_owners() == baseline
    with pytest.raises(ValueError):
        hosts[0](store, 1)


def test_linker_owners_are_released_with_the_linker_and_its_stores(backend):
    gc.collect()
    baseline = live_owners()
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    counter = Counter()
    counter_ref = weakref.ref(counter)
    for index in range(10):
        linker.define_callback("host", f"f{index}", counter, backend=backend)
    linker.define_callback("host", "f", counter, backend=backend)
    assert live_owners() == baseline + 11
    del counter
    stores = [wasmtime.Store(engine) for _ in range(3)]
    module = wasmtime.Module(engine, WAT)
    for store in stores:
        assert linker.instantiate(store, module).exports(store)["run"](store, 0) >= 1
    typed_run = wasmjit.typed(stores[2], linker.instantiate(stores[2], module).exports(stores[2])["run"])
    assert typed_run(10) > 10
    assert live_owners() > baseline
    del typed_run
    stores[2].close()  # one store closed, the others dropped
    del linker, stores, store
    gc.collect()
    assert live_owners() == baseline
    assert counter_ref() is None


def test_externref_results_are_released_with_the_store(backend):
    class Token:
        pass

    store = wasmtime.Store()
    refs: List[Any] = []

    def make() -> externref:
        token = Token()
        refs.append(weakref.ref(token))
        return token

    host = wasmjit.Function.from_callback(store, make, backend=backend)
    wat = """(module (import "host" "f" (func $f (result externref)))
      (table (export "t") 4 externref)
      (func (export "fill") (table.set (i32.const 0) (call $f)) (table.set (i32.const 1) (call $f))))"""
    exports = instantiate(store, wat, [host])
    exports["fill"](store)
    gc.collect()
    table = exports["t"]
    assert [table.get(store, i) is refs[i]() for i in range(2)] == [True, True]
    del exports, table, host
    store.close()
    del store
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_many_short_lived_stores_do_not_accumulate(backend):
    gc.collect()
    baseline = live_owners()
    for _ in range(50):
        store = wasmtime.Store()
        host = wasmjit.Function.from_callback(store, Counter(), backend=backend)
        assert instantiate(store, WAT, [host])["run"](store, 1) == 2
    del store, host
    gc.collect()
    assert live_owners() == baseline


def test_function_after_its_store_is_closed(backend):
    """A closed store's host functions and typed calls raise cleanly; they never touch freed memory."""
    store = wasmtime.Store()

    def double(x: i32) -> i32:
        return x * 2

    host = wasmjit.Function.from_callback(store, double, backend=backend)
    call = wasmjit.typed(store, host, backend=backend)
    module = wasmtime.Module(store.engine, WAT)
    store.close()
    for _ in range(2):  # again: still an error, still no crash
        with pytest.raises(ValueError):
            host(store, 1)  # stock call path
        with pytest.raises(ValueError):
            call(1)
    with pytest.raises(ValueError):
        wasmjit.typed(store, host, backend=backend)
    with pytest.raises(ValueError):
        wasmtime.Instance(store, module, [host])
    with pytest.raises(ValueError):
        host.type(store)
    for made in (double, lambda x: x):
        with pytest.raises(ValueError):
            wasmjit.Function.from_callback(store, made, type=functype(["i32"], ["i32"]), backend=backend)
    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "f", double, backend=backend)
    with pytest.raises(ValueError):
        linker.instantiate(store, module)
    # In a live store it is a function of another (dead) store: a clean error.
    other = wasmtime.Store(store.engine)
    with pytest.raises(ValueError):
        wasmjit.typed(other, host)
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Instance(other, module, [host])
    other.close()


def test_externref_payloads_are_released_with_the_store(backend):
    """Objects that crossed as externrefs (through wasm, and through a typed call of the host
    function itself) are all released once the store is closed and dropped."""

    class Payload:
        pass

    refs: List[Any] = []
    store = wasmtime.Store()

    def f(x: i32, ref: externref) -> tuple[i64, externref]:
        return x, ref

    host = wasmjit.Function.from_callback(store, f, backend=backend)
    call = wasmjit.typed(store, host, backend=backend)
    run = instantiate(store, forwarding_wat(["i32", "externref"], ["i64", "externref"], carriers=False), [host])["run"]
    for i in range(200):
        payload = Payload()
        refs.append(weakref.ref(payload))
        assert call(i, payload) == (i, payload)
        assert run(store, i, payload) == [i, payload]
    del payload, call, run, host, f
    store.close()
    del store
    gc.collect()
    assert sum(1 for r in refs if r() is not None) == 0
