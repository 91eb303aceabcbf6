"""wasmjit functions wherever wasmtime-py takes a ``Func``: ``Instance``,
``Linker.define``, tables, funcref globals, direct calls; and
``wasmjit.Linker.define_callback``."""

from typing import Any, List

import pytest
import wasmtime
from wasm_helpers import forwarding_wat, functype, instantiate

import wasmjit
from wasmjit import i32, i64


def double(x: i32) -> i32:
    return 2 * x


WAT = forwarding_wat(["i32"], ["i32"], carriers=False)


# Linker.define_callback --------------------------------------------------------------


def test_define_callback_is_store_independent(backend):
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    calls: List[int] = []

    def count(x: i32) -> i32:
        calls.append(x)
        return x + len(calls)

    assert linker.define_callback("host", "f", count, backend=backend) == backend
    module = wasmtime.Module(engine, WAT)
    store_a, store_b = wasmtime.Store(engine), wasmtime.Store(engine)
    run_a = linker.instantiate(store_a, module).exports(store_a)["run"]
    run_b = linker.instantiate(store_b, module).exports(store_b)["run"]
    assert run_a(store_a, 10) == 11
    assert run_b(store_b, 20) == 22
    assert run_a(store_a, 30) == 33
    assert calls == [10, 20, 30]
    # Typed outer calls work in both stores, too.
    assert wasmjit.typed(store_b, run_b)(40) == 44


def test_define_callback_with_caller_sees_its_own_store(backend):
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)

    def peek(caller: wasmtime.Caller, ptr: i32) -> i32:
        return caller["memory"].read(caller, ptr, ptr + 1)[0]

    linker.define_callback("host", "f", peek, backend=backend)
    wat = forwarding_wat(["i32"], ["i32"], carriers=False, extra='(memory (export "memory") 1)')
    module = wasmtime.Module(engine, wat)
    results = []
    for value in (7, 9):
        store = wasmtime.Store(engine)
        instance = linker.instantiate(store, module)
        instance.exports(store)["memory"].write(store, bytes([value]), 0)
        results.append(instance.exports(store)["run"](store, 0))
    assert results == [7, 9]


def test_define_callback_with_type_and_access_caller(backend):
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    seen: List[Any] = []

    def anything(caller, x):
        seen.append(isinstance(caller, wasmtime.Caller))
        return x - 1

    linker.define_callback("host", "f", anything, type=functype(["i32"], ["i32"]), access_caller=True, backend=backend)
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, wasmtime.Module(engine, WAT)).exports(store)["run"]
    assert run(store, 5) == 4
    assert seen == [True]


def test_define_callback_dynamic_code_false():
    linker = wasmjit.Linker(wasmtime.Engine())
    assert linker.define_callback("host", "f", double, dynamic_code=False) == "reflect"


def test_define_callback_twice_is_an_error_and_leaks_nothing():
    from wasmjit.boundary import lifetimes

    linker = wasmjit.Linker(wasmtime.Engine())
    linker.define_callback("host", "f", double)
    before = lifetimes.live_owners()
    with pytest.raises(wasmtime.WasmtimeError):
        linker.define_callback("host", "f", double)
    assert lifetimes.live_owners() == before


def test_define_callback_shadowing_allowed():
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    linker.allow_shadowing = True
    linker.define_callback("host", "f", double)
    linker.define_callback("host", "f", lambda x: x + 1000, type=functype(["i32"], ["i32"]))
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, wasmtime.Module(engine, WAT)).exports(store)["run"]
    assert run(store, 1) == 1001


def test_define_callback_with_type_mismatch_fails_at_instantiation():
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)

    def wide(x: i64) -> i64:
        return x

    linker.define_callback("host", "f", wide)
    with pytest.raises(wasmtime.WasmtimeError):
        linker.instantiate(wasmtime.Store(engine), wasmtime.Module(engine, WAT))


def test_stock_linker_define_func_next_to_define_callback():
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    linker.define_func("host", "g", functype(["i32"], ["i32"]), lambda x: x + 1)
    linker.define_callback("host", "f", double)
    wat = """(module
      (import "host" "f" (func $f (param i32) (result i32)))
      (import "host" "g" (func $g (param i32) (result i32)))
      (func (export "run") (param i32) (result i32) (call $g (call $f (local.get 0)))))"""
    store = wasmtime.Store(engine)
    assert linker.instantiate(store, wasmtime.Module(engine, wat)).exports(store)["run"](store, 5) == 11


# A Function anywhere a Func goes ---------------------------------------------------


def test_function_in_instance_imports(store, backend):
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    assert isinstance(host, wasmtime.Func)
    assert instantiate(store, WAT, [host])["run"](store, 21) == 42


def test_function_in_stock_linker_define(store, backend):
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    linker = wasmtime.Linker(store.engine)
    linker.define(store, "host", "f", host)
    run = linker.instantiate(store, wasmtime.Module(store.engine, WAT)).exports(store)["run"]
    assert run(store, 4) == 8


def test_function_called_directly(store, backend):
    def pair(a: i32, b: i64) -> tuple[i64, i32]:
        return b + 1, a - 1

    host = wasmjit.Function.from_callback(store, pair, backend=backend)
    assert host(store, 10, 20) == [21, 9]
    ty = host.type(store)
    assert [str(t) for t in ty.params] == ["i32", "i64"]
    assert [str(t) for t in ty.results] == ["i64", "i32"]
    assert wasmjit.typed(store, host)(10, 20) == (21, 9)
    single = wasmjit.Function.from_callback(store, double, backend=backend)
    assert single(store, 4) == 8
    assert wasmjit.typed(store, single)(5) == 10


TABLE_WAT = """(module
  (table (export "table") 4 funcref)
  (type $t (func (param i32) (result i32)))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (local.get 0))))"""


def test_function_in_a_table(store, backend):
    exports = instantiate(store, TABLE_WAT)
    table = exports["table"]
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    table.set(store, 2, host)
    assert exports["call"](store, 2, 50) == 100
    got = table.get(store, 2)
    assert isinstance(got, wasmtime.Func)
    assert got(store, 3) == 6
    # A function of another type in the table traps on call_indirect.
    table.set(store, 1, wasmjit.Function.from_callback(store, lambda: None, type=functype([], [])))
    with pytest.raises(wasmtime.Trap):
        exports["call"](store, 1, 0)


def test_table_created_from_python_with_a_function(store, backend):
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    table = wasmtime.Table(store, wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(2, None)), host)
    wat = """(module
      (import "env" "table" (table 2 funcref))
      (type $t (func (param i32) (result i32)))
      (func (export "call") (param i32 i32) (result i32)
        (call_indirect (type $t) (local.get 1) (local.get 0))))"""
    call = instantiate(store, wat, [table])["call"]
    assert call(store, 0, 4) == 8
    assert call(store, 1, 5) == 10


def test_function_in_a_funcref_global(store, backend):
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    global_ = wasmtime.Global(store, wasmtime.GlobalType(wasmtime.ValType.funcref(), True), wasmtime.Val.funcref(host))
    wat = """(module
      (import "env" "g" (global $g (mut funcref)))
      (table 1 funcref)
      (type $t (func (param i32) (result i32)))
      (func (export "call") (param i32) (result i32)
        (table.set (i32.const 0) (global.get $g))
        (call_indirect (type $t) (local.get 0) (i32.const 0))))"""
    call = instantiate(store, wat, [global_])["call"]
    assert call(store, 11) == 22
    assert global_.value(store)(store, 1) == 2


def test_function_passed_back_to_wasm_as_funcref(store, backend):
    host = wasmjit.Function.from_callback(store, double, backend=backend)
    wat = """(module
      (table 1 funcref)
      (type $t (func (param i32) (result i32)))
      (func (export "call_ref") (param funcref i32) (result i32)
        (table.set (i32.const 0) (local.get 0))
        (call_indirect (type $t) (local.get 1) (i32.const 0))))"""
    call_ref = instantiate(store, wat)["call_ref"]
    assert call_ref(store, host, 8) == 16
    assert wasmjit.typed(store, call_ref)(host, 9) == 18


def test_function_from_another_store_is_rejected_by_instance(store):
    other = wasmtime.Store(store.engine)
    host = wasmjit.Function.from_callback(other, double)
    with pytest.raises(wasmtime.WasmtimeError, match="Store"):
        instantiate(store, WAT, [host])


def test_one_functype_used_with_several_engines():
    """A module-level ``FuncType`` constant passed as ``type=`` to functions of
    different engines.  (wasmtime binds a FuncType to the first engine that
    uses it and *aborts the process* on a mismatch, hence the subprocess.)"""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import wasmtime, wasmjit
        I32_TO_I32 = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
        WAT = '(module (import "host" "f" (func $f (param i32) (result i32)))' \\
              '(func (export "run") (param i32) (result i32) (call $f (local.get 0))))'
        for k in range(3):
            engine = wasmtime.Engine()
            store = wasmtime.Store(engine)
            module = wasmtime.Module(engine, WAT)
            host = wasmjit.Function.from_callback(store, (lambda k: lambda x: x + k)(k), type=I32_TO_I32)
            assert wasmtime.Instance(store, module, [host]).exports(store)["run"](store, 10) == 10 + k
            linker = wasmjit.Linker(engine)
            linker.define_callback("host", "f", lambda x: x * 2, type=I32_TO_I32)
            assert linker.instantiate(store, module).exports(store)["run"](store, 10) == 20
        print("OK")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "OK", (
        f"exit status {done.returncode}\n{done.stdout}\n{done.stderr[-2000:]}"
    )
