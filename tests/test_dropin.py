"""wasmjit.install(): unmodified wasmtime-py code runs on wasmjit's trampolines."""

from __future__ import annotations

import gc

import pytest
import wasmtime

import wasmjit

WAT = """
(module
  (import "" "f" (func $f (param i32) (result i32)))
  (import "" "pair" (func $pair (param i64 f64) (result f64 i64)))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $f (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  (func (export "pair") (param i64 f64) (result f64 i64) (call $pair (local.get 0) (local.get 1)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "boom") unreachable))
"""

I32, I64, F64 = wasmtime.ValType.i32(), wasmtime.ValType.i64(), wasmtime.ValType.f64()


@pytest.fixture
def installed():
    wasmjit.install()
    try:
        yield
    finally:
        wasmjit.uninstall()


def _instance(store, f, pair):
    module = wasmtime.Module(store.engine, WAT)
    return wasmtime.Instance(store, module, [f, pair]).exports(store)


def _program(store):
    """Plain wasmtime-py code, as a user would have written it."""
    f = wasmtime.Func(store, wasmtime.FuncType([I32], [I32]), lambda x: x * 2)
    pair = wasmtime.Func(store, wasmtime.FuncType([I64, F64], [F64, I64]), lambda a, b: [b, a])
    exports = _instance(store, f, pair)
    return f, exports


def test_install_is_idempotent_and_reversible():
    assert not wasmjit.installed()
    original_init, original_call = wasmtime.Func.__init__, wasmtime.Func.__call__
    original_define = wasmtime.Linker.define_func
    wasmjit.install()
    wasmjit.install()
    assert wasmjit.installed()
    assert wasmtime.Func.__init__ is not original_init
    wasmjit.uninstall()
    wasmjit.uninstall()
    assert not wasmjit.installed()
    assert wasmtime.Func.__init__ is original_init
    assert wasmtime.Func.__call__ is original_call
    assert wasmtime.Linker.define_func is original_define


def test_results_match_stock(installed):
    store = wasmtime.Store()
    f, exports = _program(store)
    assert getattr(f, "_wasmjit_prepared", None) is not None, "Func() did not go through wasmjit"
    assert exports["run"](store, 100) == sum(2 * i for i in range(100))
    assert exports["pair"](store, -5, 2.5) == [2.5, -5]  # a list, as wasmtime-py returns
    assert exports["add"](store, 0xFFFFFFFF, 1) == 0  # wasmtime-py wraps silently
    assert exports["add"](store, wasmtime.Val.i32(2), 3) == 5
    wasmjit.uninstall()
    stock_store = wasmtime.Store()
    _, stock = _program(stock_store)
    assert stock["run"](stock_store, 100) == exports["run"](store, 100)
    assert stock["pair"](stock_store, -5, 2.5) == [2.5, -5]
    assert stock["add"](stock_store, 0xFFFFFFFF, 1) == 0


def test_wasmtime_errors_are_kept(installed):
    store = wasmtime.Store()
    _, exports = _program(store)
    with pytest.raises(wasmtime.WasmtimeError, match="too many parameters provided: given 3, expected 2"):
        exports["add"](store, 1, 2, 3)
    with pytest.raises(wasmtime.WasmtimeError, match="too few parameters"):
        exports["add"](store, 1)
    with pytest.raises(TypeError):
        exports["add"](store, 1.5, 2)  # wasmtime-py takes no float for an i32
    with pytest.raises(TypeError):
        exports["pair"](store, 1, 2)  # ... and no int for an f64
    with pytest.raises(TypeError):
        exports["add"](store, wasmtime.Val.i64(2), 3)
    with pytest.raises(wasmtime.Trap) as info:
        exports["boom"](store)
    assert info.value.trap_code == wasmtime.TrapCode.UNREACHABLE


def test_callback_rules_are_wasmtime_pys(installed):
    store = wasmtime.Store()
    ty = wasmtime.FuncType([], [I32, I32])
    with pytest.raises(TypeError):
        wasmtime.Func(store, ty, lambda: 1)(store)  # no len()
    with pytest.raises(wasmtime.WasmtimeError, match="wrong number of results"):
        wasmtime.Func(store, ty, lambda: [1, 2, 3])(store)
    with pytest.raises(wasmtime.WasmtimeError, match="produced results"):
        wasmtime.Func(store, wasmtime.FuncType([I32], []), lambda x: x)(store, 1)
    assert wasmtime.Func(store, ty, lambda: (1, 2))(store) == [1, 2]
    assert wasmtime.Func(store, ty, lambda: [True, wasmtime.Val.i32(7)])(store) == [1, 7]


def test_callback_exceptions_are_the_same_object(installed):
    store = wasmtime.Store()
    error = KeyboardInterrupt("stop")

    def raises(x):
        raise error

    f = wasmtime.Func(store, wasmtime.FuncType([I32], [I32]), raises)
    pair = wasmtime.Func(store, wasmtime.FuncType([I64, F64], [F64, I64]), lambda a, b: [b, a])
    exports = _instance(store, f, pair)
    with pytest.raises(KeyboardInterrupt) as info:
        exports["run"](store, 3)
    assert info.value is error


def test_caller_is_invalidated(installed):
    store = wasmtime.Store()
    seen = []

    def keep(caller):
        seen.append(caller)
        assert caller.get("nothing") is None

    wasmtime.Func(store, wasmtime.FuncType([], []), keep, access_caller=True)(store)
    assert isinstance(seen[0], wasmtime.Caller)
    assert seen[0].get("x") is None
    with pytest.raises(ValueError):
        seen[0]._context()


def test_linker_define_func(installed):
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_func("", "f", wasmtime.FuncType([I32], [I32]), lambda x: x + 1)
    linker.define_func("", "pair", wasmtime.FuncType([I64, F64], [F64, I64]), lambda a, b: (b, a))
    module = wasmtime.Module(engine, WAT)
    for _ in range(2):  # store-independent
        store = wasmtime.Store(engine)
        exports = linker.instantiate(store, module).exports(store)
        assert exports["run"](store, 10) == sum(i + 1 for i in range(10))


def test_fresh_func_objects_share_a_bounded_cache(installed):
    from wasmjit import dropin

    store = wasmtime.Store()
    _, exports = _program(store)
    instance_exports = exports
    for i in range(50):
        # A new Func object every time, for the same wasm function.
        assert instance_exports["add"](store, i, 1) == i + 1
    table = dropin._per_store[store]
    assert len(table) <= dropin.CALLERS_PER_STORE
    assert len(table) == 1


def test_caller_store_and_closed_store_use_wasmtime_py(installed):
    store = wasmtime.Store()
    _, exports = _program(store)
    add = exports["add"]
    assert add(store, 1, 2) == 3
    store.close()
    with pytest.raises(ValueError):
        add(store, 1, 2)


def test_uninstall_leaves_existing_functions_working():
    wasmjit.install()
    store = wasmtime.Store()
    _f, exports = _program(store)
    wasmjit.uninstall()
    gc.collect()
    assert exports["run"](store, 5) == sum(2 * i for i in range(5))


# Store lifetimes (a store used under install() is freed when stock frees it) ---------

_STORE_CHURN = r"""
import gc, resource, sys, weakref
import wasmtime, wasmjit

if sys.argv[1] == "install":
    wasmjit.install()
I32 = wasmtime.ValType.i32()
WAT = '''(module
  (import "" "f" (func $f (param i32) (result i32)))
  (memory (export "memory") 256)
  (func (export "run") (param i32) (result i32)
    ;; touch every page, so each store really holds 16 MiB
    (local $p i32)
    (loop $l
      (i32.store (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 65536)))
      (br_if $l (i32.lt_u (local.get $p) (i32.const 16777216))))
    (call $f (local.get 0))))'''

def churn(n):
    refs = []
    for i in range(n):
        store = wasmtime.Store()
        module = wasmtime.Module(store.engine, WAT)
        if i % 2:
            linker = wasmtime.Linker(store.engine)
            linker.define_func("", "f", wasmtime.FuncType([I32], [I32]), lambda x: x + 1)
            instance = linker.instantiate(store, module)
        else:
            func = wasmtime.Func(store, wasmtime.FuncType([I32], [I32]), lambda x: x + 1)
            instance = wasmtime.Instance(store, module, [func])
        run = instance.exports(store)["run"]
        assert run(store, i) == i + 1
        refs.append(weakref.ref(store))
        del store, module, instance, run
        if i % 2 == 0:
            del func
        else:
            del linker
    return refs

def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

churn(5)
gc.collect()
before = rss_mib()
refs = churn(int(sys.argv[2]))
alive_by_refcount = sum(r() is not None for r in refs)
gc.collect()
alive = sum(r() is not None for r in refs)
print(alive_by_refcount, alive, round(rss_mib() - before))
"""


@pytest.mark.parametrize("mode", ["stock", "install"])
def test_stores_used_under_install_are_freed_like_stock(mode, tmp_path):
    """Calls, callbacks and linkers under install() keep no store alive (40 x 16 MiB churned)."""
    import subprocess
    import sys

    script = tmp_path / "churn.py"
    script.write_text(_STORE_CHURN)
    out = subprocess.run(
        [sys.executable, str(script), mode, "40"], capture_output=True, text=True, timeout=300, check=True
    ).stdout.split()
    alive_by_refcount, alive, grown_mib = map(int, out)
    assert alive == 0, f"{alive} of 40 stores still alive after gc under {mode}"
    assert alive_by_refcount <= 1, f"{alive_by_refcount} stores freed only by the cycle collector under {mode}"
    assert grown_mib < 64, f"resident memory grew by {grown_mib} MiB over 40 stores of 16 MiB each"


def test_func_called_under_install_does_not_keep_its_store_alive(installed):
    import weakref

    store = wasmtime.Store()
    module = wasmtime.Module(store.engine, '(module (func (export "f") (result i32) (i32.const 7)))')
    func = wasmtime.Instance(store, module, []).exports(store)["f"]
    assert func(store) == 7
    ref = weakref.ref(store)
    del store
    assert ref() is None  # freed by reference counting, as in stock: func outlives it


def test_install_refuses_a_wasmtime_py_without_the_private_names_it_needs(monkeypatch, store):
    """A future wasmtime-py that renamed an internal: install() says what and which version; the rest works."""
    from wasmjit.boundary import wasmtime_py

    monkeypatch.setattr(wasmtime_py, "PRIVATE_NAMES", (*wasmtime_py.PRIVATE_NAMES, ("wasmtime._func", "renamed")))
    with pytest.raises(RuntimeError, match=r"cannot patch wasmtime-py [0-9.]+: it lacks wasmtime\._func\.renamed"):
        wasmjit.install()
    assert not wasmjit.installed()
    module = wasmtime.Module(store.engine, '(module (func (export "f") (result i32) (i32.const 7)))')
    assert wasmjit.typed(store, wasmtime.Instance(store, module, []).exports(store)["f"])() == 7
