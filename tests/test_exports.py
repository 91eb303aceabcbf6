"""``wasmjit.exports(store, instance)``: every export of an instance, ready to use."""

from __future__ import annotations

import copy
import pickle
import threading
import traceback
from typing import Any, List

import pytest
import wasmtime

import wasmjit
from wasmjit import i32

WAT = r"""(module
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (global (export "counter") (mut i32) (i32.const 7))
  (global (export "__heap_base") i32 (i32.const 1024))
  (table (export "table") 2 funcref)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "divmod") (param i64 i64) (result i64 i64)
    (i64.div_s (local.get 0) (local.get 1))
    (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "nop"))
  (func (export "do-work") (result i32) (i32.const 5))
  (func (export "keys") (result i32) (i32.const 1))
  (func (export "get") (result i32) (i32.const 2))
  (func (export "with space") (result i32) (i32.const 3))
  (func (export "class") (result i32) (i32.const 4))
  (func (export "") (result i32) (i32.const 6))
  (func (export "π") (result f64) (f64.const 3.14)))"""

NAMES = [
    "memory",
    "counter",
    "__heap_base",
    "table",
    "add",
    "divmod",
    "nop",
    "do-work",
    "keys",
    "get",
    "with space",
    "class",
    "",
    "π",
]


def instantiate(wat: str = WAT, store: Any = None) -> Any:
    store = store or wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, wat), [])
    return store, instance


@pytest.fixture
def ex() -> wasmjit.Exports:
    store, instance = instantiate()
    return wasmjit.exports(store, instance)


# What each export becomes ------------------------------------------------------------


def test_functions_are_typed_callers_named_after_their_export(backend: str) -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance, backend=backend)
    assert ex.add(2, 3) == 5
    assert ex.divmod(7, 2) == (3, 1)  # several results: a tuple
    assert ex.nop() is None
    for name in ("add", "divmod", "nop"):
        function = ex[name]
        assert isinstance(function, wasmjit.TypedFunc)
        assert function.backend == backend
        assert function.__name__ == function.__qualname__ == name
        assert f"<function {name} at " in repr(function)
    assert str(ex.add.signature) == "(i32, i32) -> i32"
    assert str(ex.divmod.signature) == "(i64, i64) -> (i64, i64)"


def test_errors_of_typed_callers_name_the_export(ex: wasmjit.Exports) -> None:
    with pytest.raises(TypeError, match=r"^add\(\) missing 1 required positional argument: 'a1'$"):
        ex.add(1)
    with pytest.raises(TypeError, match=r"^add\(\) takes 2 positional arguments but 3 were given$"):
        ex.add(1, 2, 3)
    with pytest.raises(OverflowError, match="argument 0 of divmod"):
        ex.divmod(1 << 64, 1)
    with pytest.raises(TypeError, match=r"^do-work\(\) takes 0 positional arguments but 1 was given$"):
        ex["do-work"](1)


def test_memories_are_wasmjit_memories(ex: wasmjit.Exports) -> None:
    assert isinstance(ex.memory, wasmjit.Memory)
    assert ex.memory.read(16, 5) == b"hello"
    ex.memory.write(0, b"abc")
    assert ex.memory.read(0, 3) == b"abc"


def test_globals_and_tables_are_wasmtime_objects() -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance)
    assert isinstance(ex.counter, wasmtime.Global)
    assert ex.counter.value(store) == 7
    ex.counter.set_value(store, 8)
    assert ex.counter.value(store) == 8
    assert isinstance(ex.table, wasmtime.Table)
    assert ex.table.size(store) == 2
    assert getattr(ex, "__heap_base").value(store) == 1024


def test_each_export_is_built_once(ex: wasmjit.Exports) -> None:
    assert ex.add is ex.add is ex["add"]
    assert ex.memory is ex["memory"]
    assert ex["do-work"] is ex["do-work"]


def test_first_accesses_from_several_threads_get_one_caller() -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance)
    barrier = threading.Barrier(4)
    got: List[Any] = []

    def take() -> None:
        barrier.wait()
        got.append(ex.add)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(function is got[0] for function in got)


# Names -----------------------------------------------------------------------------


def test_any_name_with_brackets(ex: wasmjit.Exports) -> None:
    assert ex["do-work"]() == 5
    assert ex["with space"]() == 3
    assert ex["class"]() == 4
    assert ex[""]() == 6
    assert ex["π"]() == 3.14
    assert ex.π() == 3.14
    assert getattr(ex, "class")() == 4


def test_no_export_name_is_hidden_by_the_object(ex: wasmjit.Exports) -> None:
    # Names a mapping would take for its methods are exports here.
    assert ex.keys() == 1
    assert ex.get() == 2


def test_dir_len_iter_and_in_list_every_export(ex: wasmjit.Exports) -> None:
    assert list(ex) == NAMES  # export order
    assert len(ex) == len(NAMES)
    assert sorted(dir(ex)) == sorted(NAMES)
    assert ex._ipython_key_completions_() == NAMES
    assert all(name in ex for name in NAMES)
    assert "missing" not in ex
    assert 3 not in ex


def test_dir_lists_exports_before_any_is_built() -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance)
    assert set(NAMES) <= set(dir(ex))
    assert vars(ex) == {}  # nothing built yet


def test_repr_names_the_exports(ex: wasmjit.Exports) -> None:
    assert repr(ex).startswith("<wasmjit.Exports memory, counter, __heap_base, table, add, divmod, nop, do-work, ...")
    assert "(6 more)" in repr(ex)
    store, instance = instantiate('(module (func (export "f")))')
    assert repr(wasmjit.exports(store, instance)) == "<wasmjit.Exports f>"


def test_a_module_without_exports() -> None:
    store, instance = instantiate("(module)")
    ex = wasmjit.exports(store, instance)
    assert len(ex) == 0 and list(ex) == [] and dir(ex) == []
    with pytest.raises(AttributeError, match="no export named 'f': it exports nothing"):
        _ = ex.f


# Missing names -----------------------------------------------------------------------


def test_a_missing_attribute_names_it_and_close_matches(ex: wasmjit.Exports) -> None:
    with pytest.raises(AttributeError) as info:
        _ = ex.ad
    assert str(info.value) == "this instance has no export named 'ad'; close matches: 'add'"
    with pytest.raises(AttributeError, match=r"no export named 'Add'; close matches: 'add'"):
        _ = ex.Add
    with pytest.raises(AttributeError, match=r"no export named 'memroy'; close matches: 'memory'"):
        _ = ex.memroy
    assert not hasattr(ex, "ad")


def test_an_underscore_for_a_dash_suggests_brackets(ex: wasmjit.Exports) -> None:
    with pytest.raises(AttributeError) as info:
        _ = ex.do_work
    assert str(info.value) == (
        "this instance has no export named 'do_work'; close matches: 'do-work' (exports['do-work'])"
    )


def test_without_close_matches_the_exports_are_listed() -> None:
    store, instance = instantiate('(module (func (export "run")) (func (export "do-it")) (memory (export "mem") 1))')
    ex = wasmjit.exports(store, instance)
    with pytest.raises(AttributeError) as info:
        _ = ex.zzz
    assert str(info.value) == (
        "this instance has no export named 'zzz'; its exports are 'run', 'do-it' (exports['do-it']), 'mem'"
    )


def test_without_close_matches_many_exports_are_counted() -> None:
    funcs = "".join(f'(func (export "f{i}"))' for i in range(20))
    store, instance = instantiate(f"(module {funcs})")
    with pytest.raises(AttributeError) as info:
        _ = wasmjit.exports(store, instance).zzz
    assert str(info.value) == "this instance has no export named 'zzz' (it has 20 exports: list(exports) names them)"


def test_a_missing_key_names_it_and_close_matches(ex: wasmjit.Exports) -> None:
    with pytest.raises(KeyError) as info:
        ex["do_work"]
    assert info.value.args == (
        "this instance has no export named 'do_work'; close matches: 'do-work' (exports['do-work'])",
    )
    with pytest.raises(KeyError, match="no export named 'ad'"):
        ex["ad"]


def test_a_key_that_is_not_a_string(ex: wasmjit.Exports) -> None:
    with pytest.raises(TypeError, match="export names are str, not int"):
        ex[0]  # type: ignore[index]
    with pytest.raises(TypeError, match="export names are str, not list"):
        ex[[]]  # type: ignore[index]


def test_the_traceback_adds_no_second_suggestion(ex: wasmjit.Exports) -> None:
    try:
        _ = ex.ad
    except AttributeError as exc:
        text = "".join(traceback.format_exception(exc))
    assert "close matches: 'add'" in text
    assert "Did you mean" not in text


# Read-only, and the objects it is made of ----------------------------------------------


def test_exports_are_read_only(ex: wasmjit.Exports) -> None:
    with pytest.raises(AttributeError, match="read-only: cannot set 'add'"):
        ex.add = 1
    with pytest.raises(AttributeError, match="read-only: cannot delete 'add'"):
        del ex.add
    with pytest.raises(TypeError):
        ex["add"] = 1  # type: ignore[index]


def test_exports_cannot_be_copied_or_pickled(ex: wasmjit.Exports) -> None:
    with pytest.raises(TypeError, match="cannot be pickled or copied"):
        copy.copy(ex)
    with pytest.raises(TypeError, match="cannot be pickled or copied"):
        pickle.dumps(ex)


def test_the_wrong_store_is_refused_without_aborting() -> None:
    engine = wasmtime.Engine()
    store_a, instance = instantiate(store=wasmtime.Store(engine))
    store_b = wasmtime.Store(engine)
    with pytest.raises(ValueError, match=r"this wasmtime\.Instance belongs to another store"):
        wasmjit.exports(store_b, instance)
    assert wasmjit.exports(store_a, instance).add(1, 1) == 2


def test_a_closed_store_is_refused() -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance)
    add = ex.add
    store.close()
    with pytest.raises(ValueError):
        wasmjit.exports(store, instance)
    with pytest.raises(ValueError, match="closed"):
        add(1, 2)
    with pytest.raises(ValueError):
        _ = ex.divmod  # built after the store closed


def test_arguments_are_checked() -> None:
    store, instance = instantiate()
    with pytest.raises(TypeError, match=r"expected a wasmtime\.Store, got Instance"):
        wasmjit.exports(instance, instance)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected a wasmtime\.Instance, got Store"):
        wasmjit.exports(store, store)  # type: ignore[arg-type]


def test_dynamic_code_false_builds_reflect_callers() -> None:
    store, instance = instantiate()
    ex = wasmjit.exports(store, instance, dynamic_code=False)
    assert ex.add.backend == "reflect"
    assert ex.add(20, 22) == 42


def test_the_instance_handle_wasmjit_reads_exists() -> None:
    # wasmjit.exports reads the store id of an instance to refuse the wrong
    # store (wasmtime aborts the process otherwise): the attribute is private.
    from wasmjit.boundary.wasmtime_py import INSTANCE_HANDLE_ATTRIBUTE

    _, instance = instantiate()
    assert isinstance(getattr(instance, INSTANCE_HANDLE_ATTRIBUTE).store_id, int)


# With the rest of wasmjit ----------------------------------------------------------------


def test_with_a_linker_callback_and_reentrancy() -> None:
    engine = wasmtime.Engine()
    linker = wasmjit.Linker(engine)
    module = wasmtime.Module(
        engine,
        """(module
          (import "host" "down" (func $down (param i32) (result i32)))
          (func (export "fact") (param i32) (result i32)
            (if (result i32) (i32.le_s (local.get 0) (i32.const 1))
              (then (i32.const 1))
              (else (i32.mul (local.get 0)
                             (call $down (i32.sub (local.get 0) (i32.const 1))))))))""",
    )
    store = wasmtime.Store(engine)

    @linker.callback("host")
    def down(n: i32) -> i32:
        return int(ex.fact(n))

    ex = wasmjit.exports(store, linker.instantiate(store, module))
    assert ex.fact(10) == 3628800


def test_a_trap_raises_wasmtime_trap() -> None:
    store, instance = instantiate('(module (func (export "boom") unreachable))')
    with pytest.raises(wasmtime.Trap):
        wasmjit.exports(store, instance).boom()
