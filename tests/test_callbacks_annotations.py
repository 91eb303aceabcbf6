"""How a callable's wasm signature is found: annotations, markers, ``type=``."""

import functools
import operator
import typing
from typing import Any, List, Optional

import pytest
import wasmtime
from wasm_helpers import available_backends, forwarding_wat, functype, instantiate

import wasmjit
from wasmjit import Kind, externref, f32, f64, funcref, i32, i64, v128

I32, I64, F32, F64 = Kind.I32, Kind.I64, Kind.F32, Kind.F64
BACKENDS = available_backends()


def call_through_wasm(store: wasmtime.Store, host: wasmjit.Function, params, results, *args):
    """Instantiate a module that imports exactly ``params -> results`` and forward ``args``."""
    run = instantiate(store, forwarding_wat(params, results, carriers=False), [host])["run"]
    return run(store, *args)


# Plain types and markers ----------------------------------------------------------


def test_plain_python_types(store, backend):
    def plain(a: int, b: float, c: bool) -> float:
        return a + b + c

    host = wasmjit.Function.from_callback(store, plain, backend=backend)
    assert host.signature.params == (I32, F64, I32)
    assert host.signature.results == (F64,)
    assert call_through_wasm(store, host, ["i32", "f64", "i32"], ["f64"], 1, 0.5, 1) == 2.5


def test_plain_int_and_bool_results(store, backend):
    def flag(a: int) -> bool:
        return a > 0

    host = wasmjit.Function.from_callback(store, flag, backend=backend)
    assert host.signature.results == (I32,)
    assert call_through_wasm(store, host, ["i32"], ["i32"], 5) == 1
    assert call_through_wasm(store, host, ["i32"], ["i32"], -5) == 0


MARKER_KINDS = [
    (i32, Kind.I32),
    (i64, Kind.I64),
    (f32, Kind.F32),
    (f64, Kind.F64),
    (v128, Kind.V128),
    (funcref, Kind.FUNCREF),
    (externref, Kind.EXTERNREF),
    (wasmtime.Func, Kind.FUNCREF),
    (Optional[wasmtime.Func], Kind.FUNCREF),
    (typing.Union[wasmtime.Func, None], Kind.FUNCREF),
    (wasmtime.Func | None, Kind.FUNCREF),
    (typing.Annotated[int, Kind.I64], Kind.I64),
    (typing.Annotated[int, "doc", Kind.F32], Kind.F32),
]


@pytest.mark.parametrize(("annotation", "kind"), MARKER_KINDS, ids=lambda v: str(v))
def test_markers_name_their_kind(annotation, kind):
    # Inference only (registration is covered per kind elsewhere).
    from wasmjit.model.signature import infer

    def cb(x):
        return x

    cb.__annotations__ = {"x": annotation, "return": annotation}
    signature, name = infer(cb)
    assert signature.params == (kind,)
    assert signature.results == (kind,)
    assert name.endswith("cb")


def test_marker_callbacks_run(store, backend):
    def markers(a: i32, b: i64, c: f32, d: f64) -> tuple[f64, f32, i64, i32]:
        return d, c, b, a

    host = wasmjit.Function.from_callback(store, markers, backend=backend)
    assert host.signature.params == (I32, I64, F32, F64)
    out = call_through_wasm(store, host, ["i32", "i64", "f32", "f64"], ["f64", "f32", "i64", "i32"], 1, 2, 0.5, 0.25)
    assert out == [0.25, 0.5, 2, 1]


def test_string_annotations(store, backend):
    def strings(a: "i32", b: "f64") -> "tuple[i64, f32]":
        return a * 2, b

    host = wasmjit.Function.from_callback(store, strings, backend=backend)
    assert host.signature.params == (I32, F64)
    assert host.signature.results == (I64, F32)
    assert call_through_wasm(store, host, ["i32", "f64"], ["i64", "f32"], 4, 0.5) == [8, 0.5]


def test_string_caller_annotation(store, backend):
    def peek(caller: "wasmtime.Caller", x: "i32") -> "i32":
        return x + (caller.get("nothing") is None)

    host = wasmjit.Function.from_callback(store, peek, backend=backend)
    assert host.signature.wants_caller
    assert call_through_wasm(store, host, ["i32"], ["i32"], 1) == 2


def test_unresolvable_string_annotation_is_a_type_error(store):
    def broken(x: "NoSuchTypeAnywhere") -> i32:  # type: ignore[name-defined]  # noqa: F821
        return 0

    with pytest.raises(TypeError, match="broken"):
        wasmjit.Function.from_callback(store, broken)


@pytest.mark.parametrize("annotation", [str, bytes, list, typing.Any, Optional[int], "complex"])
def test_non_wasm_annotation_is_a_type_error(store, annotation):
    def cb(x):
        return 0

    cb.__annotations__ = {"x": annotation, "return": i32}
    with pytest.raises(TypeError, match="'x'"):
        wasmjit.Function.from_callback(store, cb)


def test_missing_annotation_without_type_is_a_type_error(store):
    def half(x: i32, y) -> i32:
        return x

    with pytest.raises(TypeError, match="'y'"):
        wasmjit.Function.from_callback(store, half)


def test_no_return_annotation_means_no_results(store, backend):
    calls: List[int] = []

    def sink(x: i32):
        calls.append(x)

    host = wasmjit.Function.from_callback(store, sink, backend=backend)
    assert host.signature.results == ()
    call_through_wasm(store, host, ["i32"], [], 3)
    assert calls == [3]


def test_variable_length_tuple_result_is_a_type_error(store):
    def many() -> tuple[i32, ...]:
        return (1,)

    with pytest.raises(TypeError, match="variable-length"):
        wasmjit.Function.from_callback(store, many)


def test_required_keyword_only_parameter_is_a_type_error(store):
    def kw(x: i32, *, y: i32) -> i32:
        return x

    with pytest.raises(TypeError, match="'y'"):
        wasmjit.Function.from_callback(store, kw)


def test_optional_keyword_only_parameter_is_allowed(store, backend):
    def kw(x: i32, *, scale: int = 3) -> i32:
        return x * scale

    host = wasmjit.Function.from_callback(store, kw, backend=backend)
    assert call_through_wasm(store, host, ["i32"], ["i32"], 5) == 15


# type= ----------------------------------------------------------------------------

I32_TO_I32 = ["i32"], ["i32"]


def test_type_with_lambda(store, backend):
    host = wasmjit.Function.from_callback(store, lambda x: x + 1, type=functype(*I32_TO_I32), backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 41) == 42


def test_type_with_lambda_binding_defaults_like_wasmtime_func(store, backend):
    """``lambda x, k=k: ...`` (the loop idiom) works with stock ``wasmtime.Func``."""
    ty = functype(*I32_TO_I32)
    stock = [wasmtime.Func(store, ty, lambda x, k=k: x + k) for k in range(3)]
    assert [call_through_wasm(store, f, *I32_TO_I32, 10) for f in stock] == [10, 11, 12]
    hosts = [wasmjit.Function.from_callback(store, lambda x, k=k: x + k, type=ty, backend=backend) for k in range(3)]
    assert [call_through_wasm(store, f, *I32_TO_I32, 10) for f in hosts] == [10, 11, 12]


@pytest.mark.parametrize(
    ("builtin", "params", "results", "args", "expected"),
    [
        (abs, ["i32"], ["i32"], (-5,), 5),
        (operator.add, ["i64", "i64"], ["i64"], (2, 3), 5),
        (max, ["f64", "f64"], ["f64"], (1.5, -2.0), 1.5),  # no introspectable signature
        (min, ["i32", "i32", "i32"], ["i32"], (4, -9, 2), -9),
        (operator.neg, ["f32"], ["f32"], (0.5,), -0.5),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_type_with_builtins(store, backend, builtin, params, results, args, expected):
    host = wasmjit.Function.from_callback(store, builtin, type=functype(params, results), backend=backend)
    assert call_through_wasm(store, host, params, results, *args) == expected


def scaled(scale: i32, x: i32) -> i32:
    return scale * x


def test_functools_partial_with_annotations(store, backend):
    host = wasmjit.Function.from_callback(store, functools.partial(scaled, 3), backend=backend)
    assert host.signature.params == (I32,)
    assert call_through_wasm(store, host, *I32_TO_I32, 7) == 21
    assert "scaled" in repr(host)


def test_functools_partial_with_type(store, backend):
    host = wasmjit.Function.from_callback(
        store, functools.partial(operator.mul, 4), type=functype(*I32_TO_I32), backend=backend
    )
    assert call_through_wasm(store, host, *I32_TO_I32, 5) == 20


class Adder:
    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, x: i32) -> i32:
        return x + self.n

    def method(self, x: i64) -> i64:
        return x * self.n

    @classmethod
    def klass(cls, x: i32) -> i32:
        return x - 1

    @staticmethod
    def static(x: i32) -> i32:
        return -x


def test_callable_object(store, backend):
    host = wasmjit.Function.from_callback(store, Adder(10), backend=backend)
    assert host.signature.params == (I32,)
    assert call_through_wasm(store, host, *I32_TO_I32, 5) == 15


def test_callable_object_with_type(store, backend):
    class Untyped:
        def __call__(self, x):
            return x * 3

    host = wasmjit.Function.from_callback(store, Untyped(), type=functype(*I32_TO_I32), backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 5) == 15


def test_bound_methods_of_different_objects(store, backend):
    two, three = Adder(2), Adder(3)
    host2 = wasmjit.Function.from_callback(store, two.method, backend=backend)
    host3 = wasmjit.Function.from_callback(store, three.method, backend=backend)
    assert host2.signature.params == (I64,)
    assert call_through_wasm(store, host2, ["i64"], ["i64"], 5) == 10
    assert call_through_wasm(store, host3, ["i64"], ["i64"], 5) == 15


def test_classmethod_and_staticmethod(store, backend):
    host = wasmjit.Function.from_callback(store, Adder.klass, backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 5) == 4
    host = wasmjit.Function.from_callback(store, Adder.static, backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 5) == -5


def test_unbound_function_and_bound_method_of_the_same_code(store, backend):
    """A method registered unbound (self is a wasm parameter) and bound."""

    class Box:
        def get(self, x: i32) -> i32:
            return x + 100

    with pytest.raises(TypeError, match="'self'"):
        wasmjit.Function.from_callback(store, Box.get, backend=backend)
    host = wasmjit.Function.from_callback(store, Box().get, backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 1) == 101
    with pytest.raises(TypeError, match="'self'"):
        wasmjit.Function.from_callback(store, Box.get, backend=backend)


def test_closures_with_different_annotations(store, backend):
    def make(kind: Any, name: str) -> Any:
        def cb(x: kind) -> kind:  # type: ignore[valid-type]
            return x

        cb.__qualname__ = name
        return cb

    as_i32 = wasmjit.Function.from_callback(store, make(i32, "as_i32"), backend=backend)
    as_f64 = wasmjit.Function.from_callback(store, make(f64, "as_f64"), backend=backend)
    as_i64 = wasmjit.Function.from_callback(store, make(i64, "as_i64"), backend=backend)
    assert (as_i32.signature.params, as_f64.signature.params, as_i64.signature.params) == ((I32,), (F64,), (I64,))
    assert call_through_wasm(store, as_f64, ["f64"], ["f64"], 0.25) == 0.25


def test_closure_state(store, backend):
    total = [0]

    def accumulate(x: i32) -> i32:
        total[0] += x
        return total[0]

    host = wasmjit.Function.from_callback(store, accumulate, backend=backend)
    run = instantiate(store, forwarding_wat(*I32_TO_I32, carriers=False), [host])["run"]
    assert [run(store, v) for v in (1, 2, 3)] == [1, 3, 6]


def test_annotations_changed_after_registration_are_honoured(store, backend):
    """Registration reads the callable as it is *now*."""

    def flexible(x: i32) -> i32:
        return x

    first = wasmjit.Function.from_callback(store, flexible, backend=backend)
    flexible.__annotations__ = {"x": f64, "return": f64}
    second = wasmjit.Function.from_callback(store, flexible, backend=backend)
    assert first.signature.params == (I32,)
    assert second.signature.params == (F64,)
    flexible.__annotations__["x"] = i64
    flexible.__annotations__["return"] = i64
    third = wasmjit.Function.from_callback(store, flexible, backend=backend)
    assert third.signature.params == (I64,)


# type= and annotations together -------------------------------------------------------


def test_type_and_matching_annotations(store, backend):
    def typed(x: i32) -> i32:
        return x

    host = wasmjit.Function.from_callback(store, typed, type=functype(*I32_TO_I32), backend=backend)
    assert call_through_wasm(store, host, *I32_TO_I32, 3) == 3


def test_type_and_partial_annotations(store, backend):
    def partly(x: i32, y) -> f64:
        return x + y

    host = wasmjit.Function.from_callback(store, partly, type=functype(["i32", "f64"], ["f64"]), backend=backend)
    assert call_through_wasm(store, host, ["i32", "f64"], ["f64"], 1, 0.5) == 1.5


def test_type_disagreeing_with_a_parameter_names_it(store):
    def wrong(count: i32, ratio: i64) -> i32:
        return count

    with pytest.raises(TypeError, match="'ratio'"):
        wasmjit.Function.from_callback(store, wrong, type=functype(["i32", "f64"], ["i32"]))


def test_type_disagreeing_with_the_result(store):
    def wrong(x: i32) -> i64:
        return x

    with pytest.raises(TypeError, match="wrong"):
        wasmjit.Function.from_callback(store, wrong, type=functype(*I32_TO_I32))


def test_type_with_the_wrong_parameter_count(store):
    def two(a: i32, b: i32) -> i32:
        return a

    with pytest.raises(TypeError, match="two"):
        wasmjit.Function.from_callback(store, two, type=functype(*I32_TO_I32))


def test_type_must_be_a_functype(store):
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, abs, type=[wasmtime.ValType.i32()])  # type: ignore[arg-type]


def test_varargs_with_type(store, backend):
    got: List[Any] = []

    def spread(*args):
        got.append(args)
        return sum(args)

    ty = functype(["i32", "i64", "f64"], ["f64"])
    host = wasmjit.Function.from_callback(store, spread, type=ty, backend=backend)
    assert call_through_wasm(store, host, ["i32", "i64", "f64"], ["f64"], 1, 2, 0.5) == 3.5
    assert got == [(1, 2, 0.5)]


def test_varargs_after_annotated_parameters_with_type(store, backend):
    def head(first: i32, *rest) -> i32:
        return first + len(rest)

    host = wasmjit.Function.from_callback(store, head, type=functype(["i32", "i32", "i32"], ["i32"]), backend=backend)
    assert call_through_wasm(store, host, ["i32", "i32", "i32"], ["i32"], 10, 0, 0) == 12


def test_varargs_without_type_is_a_type_error(store):
    def spread(*args: i32) -> i32:
        return 0

    with pytest.raises(TypeError, match=r"\*args"):
        wasmjit.Function.from_callback(store, spread)


# What cannot be a callback ------------------------------------------------------------


async def coroutine(x: i32) -> i32:
    return x


async def async_generator(x: i32):
    yield x


def generator(x: i32) -> i32:
    yield x


class Methods:
    async def async_method(self, x: i32) -> i32:
        return x

    def gen_method(self, x: i32) -> i32:
        yield x


@pytest.mark.parametrize(
    "callback",
    [
        coroutine,
        async_generator,
        generator,
        Methods().async_method,
        Methods().gen_method,
        functools.partial(coroutine),
    ],
    ids=["async def", "async generator", "generator", "async method", "generator method", "partial of async"],
)
def test_async_and_generator_functions_are_type_errors(store, callback):
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, callback)
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, callback, type=functype(*I32_TO_I32))


def test_non_callable_is_a_type_error(store):
    with pytest.raises(TypeError, match="callable"):
        wasmjit.Function.from_callback(store, 42)  # type: ignore[arg-type]


def test_store_must_be_a_store():
    with pytest.raises(TypeError, match="Store"):
        wasmjit.Function.from_callback(wasmtime.Engine(), abs)  # type: ignore[arg-type]


def test_closed_store_is_rejected():
    store = wasmtime.Store()
    store.close()
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, scaled)


# The wasmtime.Func-compatible constructor ------------------------------------------------


def test_function_constructor_mirrors_wasmtime_func(store):
    host = wasmjit.Function(store, functype(*I32_TO_I32), lambda x: x * 2)
    assert isinstance(host, wasmtime.Func)
    assert call_through_wasm(store, host, *I32_TO_I32, 4) == 8
    assert host.backend in BACKENDS

    seen: List[Any] = []

    def with_caller(caller, x):
        seen.append(isinstance(caller, wasmtime.Caller))
        return x

    host = wasmjit.Function(store, functype(*I32_TO_I32), with_caller, access_caller=True)
    assert call_through_wasm(store, host, *I32_TO_I32, 4) == 4
    assert seen == [True]


def test_a_class_is_a_callable_whose_result_is_an_instance(store, backend):
    """``__init__``'s ``-> None`` is not what calling the class returns (issue 12.4)."""

    class Doubled:
        def __init__(self, a: i32, b: i32) -> None:
            self.value = (a + b) * 2

        def __index__(self) -> int:
            return self.value

    i32_type = wasmtime.ValType.i32()
    host = wasmjit.Function.from_callback(
        store, Doubled, type=wasmtime.FuncType([i32_type, i32_type], [i32_type]), backend=backend
    )
    module = wasmtime.Module(
        store.engine,
        """(module (import "" "f" (func $f (param i32 i32) (result i32)))
             (func (export "run") (param i32 i32) (result i32) (call $f (local.get 0) (local.get 1))))""",
    )
    run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"])
    assert run(3, 4) == 14


def test_a_builtin_without_a_readable_signature_is_reported_as_such(store):
    """``min`` has no signature Python can read (several forms); ``type=`` makes it usable."""
    with pytest.raises(TypeError, match=r"min: Python cannot read its signature .*pass type="):
        wasmjit.Function.from_callback(store, min)
    i64_type = wasmtime.ValType.i64()
    host = wasmjit.Function.from_callback(store, min, type=wasmtime.FuncType([i64_type, i64_type], [i64_type]))
    module = wasmtime.Module(
        store.engine,
        """(module (import "" "f" (func $f (param i64 i64) (result i64)))
             (func (export "run") (param i64 i64) (result i64) (call $f (local.get 0) (local.get 1))))""",
    )
    run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"])
    assert run(3, -9) == -9
