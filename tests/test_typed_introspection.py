"""What ``help()``, ``inspect.signature()`` and type checkers' runtime helpers see of a typed caller."""

from __future__ import annotations

import inspect
import pydoc
import re
import typing
from typing import Any, Callable, Tuple

import pytest
import wasmtime
from typing_extensions import Annotated

import wasmjit
from wasmjit import Guest, externref, f32, f64, funcref, i32, i64, v128

WAT = r"""(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param i32) (result i32)
    (global.get $heap)
    (global.set $heap (i32.add (global.get $heap) (local.get 0))))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "divmod") (param i64 i64) (result i64 i64)
    (i64.div_s (local.get 0) (local.get 1))
    (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "nop"))
  (func (export "kinds") (param i32 i64 f32 f64 v128 funcref externref) (result externref) (local.get 6))
  (func (export "echo") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1)))"""


@pytest.fixture
def setup() -> Tuple[wasmtime.Store, wasmtime.Instance, Any]:
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), [])
    return store, instance, instance.exports(store)


def params(function: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.annotation) for p in inspect.signature(function).parameters.values()]


POSITIONAL = inspect.Parameter.POSITIONAL_ONLY


def test_signature_of_a_typed_caller(setup: Any, backend: str) -> None:
    store, _, ex = setup
    add = wasmjit.typed(store, ex["add"], name="add", backend=backend)
    signature = inspect.signature(add)
    assert params(add) == [("a0", POSITIONAL, i32), ("a1", POSITIONAL, i32)]
    assert signature.return_annotation == i32
    # Python 3.14 drops the "typing." prefix.
    assert re.match(
        r"\(a0: (typing\.)?Annotated\[int, Kind\.I32\], a1: (typing\.)?Annotated\[int, Kind\.I32\], /\)", str(signature)
    )


def test_result_annotations(setup: Any) -> None:
    store, _, ex = setup
    assert inspect.signature(wasmjit.typed(store, ex["divmod"])).return_annotation == Tuple[i64, i64]
    assert inspect.signature(wasmjit.typed(store, ex["nop"])).return_annotation is None
    assert params(wasmjit.typed(store, ex["nop"])) == []


def test_every_kind_is_annotated_with_its_marker(setup: Any) -> None:
    store, _, ex = setup
    kinds = wasmjit.typed(store, ex["kinds"])
    markers = [i32, i64, f32, f64, v128, funcref, externref]
    assert params(kinds) == [(f"a{i}", POSITIONAL, marker) for i, marker in enumerate(markers)]
    assert inspect.signature(kinds).return_annotation == externref


def test_guest_data_is_annotated_as_declared(setup: Any) -> None:
    store, instance, ex = setup
    text = Annotated[str, Guest(alloc="malloc")]
    echo = wasmjit.typed(store, ex["echo"], Callable[[text], wasmjit.Bytes], instance=instance, name="echo")
    assert echo("héllo") == "héllo".encode()
    assert params(echo) == [("a0", POSITIONAL, text)]
    assert inspect.signature(echo).return_annotation == wasmjit.Bytes
    assert "(str@memory) -> bytes@memory" in (echo.__doc__ or "")


def test_the_parameter_names_are_those_of_the_arity_errors(setup: Any, backend: str) -> None:
    store, _, ex = setup
    add = wasmjit.typed(store, ex["add"], name="add", backend=backend)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a1'"):
        add(1)
    assert list(inspect.signature(add).parameters)[1] == "a1"


def test_doc_names_the_function_its_wasm_type_and_backend(setup: Any, backend: str) -> None:
    store, _, ex = setup
    add = wasmjit.typed(store, ex["add"], name="add", backend=backend)
    assert add.__doc__ == (
        "Call the wasm function 'add' of type (i32, i32) -> i32.\n\n"
        f"A wasmjit typed call ({backend} backend): positional arguments only; returns its result."
    )
    divmod_ = wasmjit.typed(store, ex["divmod"], backend=backend)
    assert (divmod_.__doc__ or "").startswith("Call a wasm function of type (i64, i64) -> (i64, i64).")
    assert "returns its results as a tuple" in (divmod_.__doc__ or "")
    assert "returns None" in (wasmjit.typed(store, ex["nop"]).__doc__ or "")


def test_help_shows_the_export_name_and_wasm_types(setup: Any, backend: str) -> None:
    store, instance, _ = setup
    add = wasmjit.exports(store, instance, backend=backend).add
    text = pydoc.render_doc(add, renderer=pydoc.plaintext)
    assert "function add" in text
    assert re.search(
        r"\badd\(a0: (typing\.)?Annotated\[int, Kind\.I32\], a1: (typing\.)?Annotated\[int, Kind\.I32\], /\)", text
    )
    assert "Call the wasm function 'add' of type (i32, i32) -> i32." in text


def test_type_hints_are_readable_at_run_time(setup: Any) -> None:
    store, _, ex = setup
    add = wasmjit.typed(store, ex["add"])
    hints = {name: p.annotation for name, p in inspect.signature(add).parameters.items()}
    assert all(typing.get_origin(hint) is Annotated for hint in hints.values())
    assert [typing.get_args(hint)[1] for hint in hints.values()] == [wasmjit.Kind.I32, wasmjit.Kind.I32]


def test_a_typed_caller_can_be_defined_as_a_callback_without_type(setup: Any) -> None:
    # Its __signature__ says what it takes: a typed caller of one instance can
    # be handed to another as an import, annotations read as for any function.
    store, _, ex = setup
    add = wasmjit.typed(store, ex["add"], name="add")
    forwarded = wasmjit.Function.from_callback(store, add)
    assert str(forwarded.signature) == "(i32, i32) -> i32"
    user = wasmtime.Module(
        store.engine,
        """(module (import "m" "add" (func $add (param i32 i32) (result i32)))
             (func (export "run") (result i32) (call $add (i32.const 40) (i32.const 2))))""",
    )
    run = wasmtime.Instance(store, user, [forwarded]).exports(store)["run"]
    assert wasmjit.typed(store, run)() == 42


def test_typed_func_is_generic_at_run_time() -> None:
    # Annotations are evaluated at run time by get_type_hints (and, without
    # `from __future__ import annotations`, when the function is defined).
    alias = wasmjit.TypedFunc[[int, int], int]
    assert typing.get_origin(alias) is wasmjit.TypedFunc
    assert typing.get_args(alias) == ((int, int), int)
    assert typing.get_origin(wasmjit.TypedFunc[..., Any]) is wasmjit.TypedFunc

    def uses(f: wasmjit.TypedFunc[[int], int]) -> int:
        return f(1)

    assert typing.get_type_hints(uses)["f"] == wasmjit.TypedFunc[[int], int]


def test_typed_func_is_still_runtime_checkable(setup: Any) -> None:
    store, _, ex = setup
    assert isinstance(wasmjit.typed(store, ex["add"]), wasmjit.TypedFunc)
    assert not isinstance(lambda: None, wasmjit.TypedFunc)
