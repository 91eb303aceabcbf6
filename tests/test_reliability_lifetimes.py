"""Lifetimes under churn: nothing leaks.

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

What outlives what in-process (host functions, linkers, callers, externref
payloads, closed stores) is tested by surface: tests/test_callbacks_lifetimes.py,
tests/test_callbacks_caller.py and tests/test_typed_calls.py /
tests/test_typed_failures.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict

import pytest

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
