"""The private pieces of wasmtime-py that wasmjit relies on exist in this wasmtime-py.

:mod:`wasmjit.boundary.wasmtime_py` is the upgrade checklist: every private
name it uses is listed in ``PRIVATE_NAMES``, and the two attributes it reads
on wasmtime-py's objects are named by ``STORE_CONTEXT_ATTRIBUTE`` and
``FUNC_HANDLE_ATTRIBUTE``.  These tests are the first to fail on a
wasmtime-py release that renamed one of them.
"""

from __future__ import annotations

import pytest
import wasmtime
from wasm_helpers import instantiate

from wasmjit.boundary import wasmtime_py


def test_every_private_name_exists() -> None:
    assert wasmtime_py.missing() == []


def test_missing_reports_what_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    names = (*wasmtime_py.PRIVATE_NAMES, ("wasmtime", "Store._no_such_name"), ("wasmtime._no_such_module", "x"))
    monkeypatch.setattr(wasmtime_py, "PRIVATE_NAMES", names)
    assert wasmtime_py.missing() == ["wasmtime.Store._no_such_name", "wasmtime._no_such_module.x"]


def test_store_context_attribute_exists_on_live_stores() -> None:
    store = wasmtime.Store()
    assert wasmtime_py.STORE_CONTEXT_ATTRIBUTE in vars(store)
    assert getattr(store, wasmtime_py.STORE_CONTEXT_ATTRIBUTE) is not None
    assert not wasmtime_py.store_is_closed(store)
    assert wasmtime_py.store_context(store) != 0
    store.close()
    assert getattr(store, wasmtime_py.STORE_CONTEXT_ATTRIBUTE) is None
    assert wasmtime_py.store_is_closed(store)


def test_func_handle_attribute_exists_on_live_funcs() -> None:
    store = wasmtime.Store()
    host = wasmtime.Func(store, wasmtime.FuncType([], []), lambda: None)
    exported = instantiate(store, '(module (func (export "f")))')["f"]
    for func in (host, exported):
        assert wasmtime_py.FUNC_HANDLE_ATTRIBUTE in vars(func)
        handle = wasmtime_py.func_handle(func)
        assert isinstance(handle, wasmtime_py.FuncStruct)
        assert handle.store_id != 0
    # Both come from the same store.
    assert wasmtime_py.func_handle(host).store_id == wasmtime_py.func_handle(exported).store_id


def test_instance_handle_attribute_exists_on_live_instances() -> None:
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, "(module)"), [])
    assert wasmtime_py.INSTANCE_HANDLE_ATTRIBUTE in vars(instance)
    host = wasmtime.Func(store, wasmtime.FuncType([], []), lambda: None)
    assert wasmtime_py.instance_handle(instance).store_id == wasmtime_py.func_handle(host).store_id
