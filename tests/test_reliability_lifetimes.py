"""Lifetimes: nothing leaks, and nothing outlives what it points into.

* Churn: create and drop ``WASMJIT_LIFETIME_FUNCTIONS`` functions (default
  100,000: host functions from ``from_callback`` on every backend, typed
  calls, linker definitions) across thousands of stores, calling some of
  them, raising through some, passing externrefs.  Afterwards
  ``wasmjit.boundary.lifetimes.live_owners()`` is back to its baseline, every
  externref payload has been released, and resident memory measured after
  a warm-up has not grown by more than a small tolerance.  The churn runs
  in a fresh interpreter so the measurement sees only it.  The long profile
  (``pytest -m fuzz``) runs ``WASMJIT_LIFETIME_FUNCTIONS_LONG`` (default
  1,000,000).
* Outliving: typed calls and host functions used after their store is
  closed raise ``ValueError`` (or a wasmtime error), never touch freed
  memory; a typed call keeps its store alive by itself; a ``Caller`` kept
  past its callback is invalid.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from typing import Any, Dict, List

import pytest
import wasmtime
from wasm_helpers import available_backends

import wasmjit
from wasmjit import externref, i32, i64
from wasmjit.boundary.lifetimes import live_owners

BACKENDS = available_backends()
FUNCTIONS = int(os.environ.get("WASMJIT_LIFETIME_FUNCTIONS", "100000"))
FUNCTIONS_LONG = int(os.environ.get("WASMJIT_LIFETIME_FUNCTIONS_LONG", "1000000"))
#: Allowed growth of resident memory after the warm-up, per 100,000 functions.
RSS_TOLERANCE_PER_100K = 6 * 1024 * 1024

CHURN = r"""
import gc, json, os, sys, weakref
import wasmtime, wasmjit
from wasmjit import i32, i64, externref
from wasmjit.boundary.lifetimes import live_owners

TARGET = int(sys.argv[1])
PER_STORE = 24
BACKENDS = ("bytecode", "source", "reflect")
engine = wasmtime.Engine()
module = wasmtime.Module(engine, '''
(module
  (import "h" "f" (func $f (param i32 externref) (result i64 externref)))
  (func (export "g") (param i32 externref) (result i64 externref)
    (call $f (local.get 0) (local.get 1))))''')

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

class Payload:
    pass

class Failure(Exception):
    pass

payload_refs = []

def one_store(index):
    made = 0
    store = wasmtime.Store(engine)
    linker = wasmjit.Linker(engine) if index % 10 == 0 else None
    hosts = []
    for k in range(PER_STORE):
        backend = BACKENDS[(index + k) % 3]
        def cb(x: i32, ref: externref) -> tuple[i64, externref]:
            if x < 0:
                raise Failure(x)
            return x + k, ref
        host = wasmjit.Function.from_callback(store, cb, backend=backend)
        call = wasmjit.typed(store, host, backend=BACKENDS[(index + k + 1) % 3])
        hosts.append((host, call))
        made += 2
    if linker is not None:
        linker.define_callback("h", "f", lambda x, ref: (x, ref), type=module.imports[0].type)
        made += 1
    if index % 4 == 0:
        host, call = hosts[index % PER_STORE]
        payload = Payload()
        payload_refs.append(weakref.ref(payload))
        g = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["g"])
        made += 1
        k = index % PER_STORE
        assert g(1, payload) == (1 + k, payload)
        assert call(2, payload) == (2 + k, payload)
        try:
            g(-1, payload)
        except Failure:
            pass
        else:
            raise AssertionError("no Failure")
    if linker is not None:
        instance = linker.instantiate(store, module)
        assert wasmjit.typed(store, instance.exports(store)["g"])(5, None) == (5, None)
    if index % 2:
        store.close()
    return made

baseline_owners = live_owners()
made = 0
index = 0
warmup = max(TARGET // 10, 2000)
while made < warmup:
    made += one_store(index)
    index += 1
gc.collect()
after_warmup = rss()
owners_after_warmup = live_owners()
while made < TARGET + warmup:
    made += one_store(index)
    index += 1
gc.collect()
print(json.dumps({
    "functions": made - warmup,
    "stores": index,
    "owners_baseline": baseline_owners,
    "owners_after_warmup": owners_after_warmup,
    "owners_end": live_owners(),
    "rss_growth": rss() - after_warmup,
    "payloads": len(payload_refs),
    "payloads_alive": sum(1 for r in payload_refs if r() is not None),
    "pending": repr(wasmjit.boundary.errors.take_pending()),
}))
"""


def churn(count: int) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CHURN, str(count)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def check_churn(stats: Dict[str, Any], count: int) -> None:
    assert stats["functions"] >= count
    assert stats["stores"] >= count // 50, stats  # thousands of stores
    assert stats["owners_end"] == stats["owners_baseline"], stats
    assert stats["owners_after_warmup"] == stats["owners_baseline"], stats
    assert stats["payloads"] > 0 and stats["payloads_alive"] == 0, stats
    assert stats["pending"] == "None", stats
    tolerance = max(RSS_TOLERANCE_PER_100K, RSS_TOLERANCE_PER_100K * count // 100_000)
    assert stats["rss_growth"] <= tolerance, f"resident memory grew by {stats['rss_growth']} bytes: {stats}"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")
def test_churn_returns_to_baseline() -> None:
    stats = churn(FUNCTIONS)
    print(f"\nlifetime churn: {stats}")
    check_churn(stats, FUNCTIONS)


@pytest.mark.fuzz
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")
def test_churn_returns_to_baseline_long() -> None:
    stats = churn(FUNCTIONS_LONG)
    print(f"\nlifetime churn (long): {stats}")
    check_churn(stats, FUNCTIONS_LONG)


# In-process lifetimes -----------------------------------------------------------

WAT = """
(module
  (import "h" "f" (func $f (param i32) (result i32)))
  (memory (export "mem") 1)
  (func (export "g") (param i32) (result i32) (call $f (local.get 0))))
"""


def instance_with(store: wasmtime.Store, host: wasmtime.Func) -> Any:
    return wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host]).exports(store)


@pytest.mark.parametrize("backend", BACKENDS)
def test_owners_released_with_their_store(backend: str) -> None:
    gc.collect()
    baseline = live_owners()
    store = wasmtime.Store()
    hosts = [
        wasmjit.Function.from_callback(store, lambda x: x, type=_i32_functype(), backend=backend) for _ in range(50)
    ]
    assert live_owners() == baseline + 50
    del hosts
    gc.collect()
    assert live_owners() == baseline + 50, "released while the store still holds the functions"
    del store
    gc.collect()
    assert live_owners() == baseline
    closed = wasmtime.Store()
    for _ in range(20):
        wasmjit.Function.from_callback(closed, lambda x: x, type=_i32_functype(), backend=backend)
    closed.close()
    assert live_owners() == baseline


def test_owners_released_with_their_linker() -> None:
    gc.collect()
    baseline = live_owners()
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)

    def f(x: i32) -> i32:
        return x + 1

    for index in range(10):
        linker.define_callback("h", f"f{index}", f)
    assert live_owners() == baseline + 10
    linker.define_callback("h", "f", f)
    store = wasmtime.Store(engine)
    g = wasmjit.typed(store, linker.instantiate(store, wasmtime.Module(engine, WAT)).exports(store)["g"])
    assert g(1) == 2
    del linker, g
    store.close()
    gc.collect()
    assert live_owners() == baseline


_FUNCTYPES: Dict[int, wasmtime.FuncType] = {}


def _i32_functype() -> wasmtime.FuncType:
    return wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])


@pytest.mark.parametrize("backend", BACKENDS)
def test_typed_call_after_close_raises(backend: str) -> None:
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, lambda x: x * 2, type=_i32_functype(), backend=backend)
    g = wasmjit.typed(store, instance_with(store, host)["g"], backend=backend)
    direct = wasmjit.typed(store, host, backend=backend)
    assert g(4) == 8 and direct(5) == 10
    store.close()
    for call in (g, direct):
        with pytest.raises(ValueError):
            call(4)
        with pytest.raises(ValueError):  # again: still an error, still no crash
            call(4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_function_after_close_raises(backend: str) -> None:
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, lambda x: x * 2, type=_i32_functype(), backend=backend)
    store.close()
    with pytest.raises(ValueError):
        host(store, 1)  # stock call path
    with pytest.raises(ValueError):
        wasmjit.typed(store, host)
    with pytest.raises(ValueError):
        wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [host])
    with pytest.raises(ValueError):
        host.type(store)
    # In a live store it is a function of another (dead) store: a clean error.
    other = wasmtime.Store(store.engine)
    with pytest.raises(ValueError):
        wasmjit.typed(other, host)
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Instance(other, wasmtime.Module(other.engine, WAT), [host])
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, lambda x: x, type=_i32_functype(), backend=backend)
    other.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_typed_call_keeps_its_store_alive(backend: str) -> None:
    """Dropping every other reference to the store: the typed call still works (it owns the store)."""

    def build() -> Any:
        store = wasmtime.Store()
        host = wasmjit.Function.from_callback(store, lambda x: x + 100, type=_i32_functype(), backend=backend)
        return wasmjit.typed(store, instance_with(store, host)["g"], backend=backend)

    g = build()
    gc.collect()
    assert g(1) == 101
    baseline = live_owners()
    del g
    gc.collect()
    assert live_owners() == baseline - 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_caller_kept_past_its_callback_is_invalid(backend: str) -> None:
    store = wasmtime.Store()
    kept: List[Any] = []

    def f(caller: wasmtime.Caller, x: i32) -> i32:
        kept.append(caller)
        memory = caller.get("mem")
        assert isinstance(memory, wasmtime.Memory)
        memory.data_ptr(caller)[0] = x & 0xFF
        return memory.data_len(caller)

    host = wasmjit.Function.from_callback(store, f, backend=backend)
    exports = instance_with(store, host)
    g = wasmjit.typed(store, exports["g"], backend=backend)
    assert g(7) == 65536
    memory = exports["mem"]
    assert memory.data_ptr(store)[0] == 7
    (caller,) = kept
    assert caller.get("mem") is None
    with pytest.raises(ValueError):
        memory.data_ptr(caller)
    with pytest.raises(ValueError):
        memory.data_len(caller)
    store.close()
    assert caller.get("mem") is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_externref_payloads_released(backend: str) -> None:
    class Payload:
        pass

    refs: List[Any] = []
    store = wasmtime.Store()

    def f(x: i32, ref: externref) -> tuple[i64, externref]:
        return x, ref

    host = wasmjit.Function.from_callback(store, f, backend=backend)
    call = wasmjit.typed(store, host, backend=backend)
    for i in range(200):
        payload = Payload()
        refs.append(weakref.ref(payload))
        assert call(i, payload) == (i, payload)
    del payload
    store.close()
    gc.collect()
    assert sum(1 for r in refs if r() is not None) == 0
