"""Hostile input: each case is a clear exception, never a crash or a hang.

Registration problems (callables wasm cannot call, annotations that name no
wasm type, async and generator functions) are ``TypeError`` at
``from_callback`` time.  Call-time problems (results of the wrong kind or
shape, values whose conversions raise, wrong argument counts, functions of
another store or engine, closed stores) are ordinary exceptions raised to
the Python code that made the call, and the functions keep working after.
"""

from __future__ import annotations

import functools
import gc
import typing
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import wasmtime

import wasmjit
from wasmjit import externref, f32, f64, funcref, i32, i64

I32 = wasmtime.ValType.i32
I64 = wasmtime.ValType.i64
F64 = wasmtime.ValType.f64


def functype(params: List[wasmtime.ValType], results: List[wasmtime.ValType]) -> wasmtime.FuncType:
    return wasmtime.FuncType(params, results)


@pytest.fixture
def store() -> Any:
    s = wasmtime.Store()
    yield s
    s.close()


# Registration ---------------------------------------------------------------------


def varargs(*args):  # type: ignore[no-untyped-def]
    return sum(args)


def kwargs_only(**kwargs):  # type: ignore[no-untyped-def]
    return None


def args_and_kwargs(*args, **kwargs):  # type: ignore[no-untyped-def]
    return None


def required_keyword(x: i32, *, key: i32) -> i32:
    return x + key


def optional_keyword(x: i32, *, key: i32 = 5) -> i32:
    return x + key


@pytest.mark.parametrize(
    "callback",
    [varargs, kwargs_only, args_and_kwargs, required_keyword],
    ids=["*args", "**kwargs", "*args-**kwargs", "required-keyword-only"],
)
def test_uninferable_callables_without_type(store: wasmtime.Store, callback: Callable[..., Any]) -> None:
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, callback)


def test_required_keyword_only_even_with_type(store: wasmtime.Store) -> None:
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, required_keyword, type=functype([I32()], [I32()]))


def test_varargs_with_type_works(store: wasmtime.Store, backend: str) -> None:
    host = wasmjit.Function.from_callback(
        store, varargs, type=functype([I32(), I64(), I32()], [I64()]), backend=backend
    )
    assert wasmjit.typed(store, host, backend=backend)(1, 2, 3) == 6
    assert host(store, 4, 5, 6) == 15
    optional = wasmjit.Function.from_callback(store, optional_keyword, backend=backend)
    assert wasmjit.typed(store, optional)(1) == 6


def test_builtins_with_type_work(store: wasmtime.Store, backend: str) -> None:
    host = wasmjit.Function.from_callback(store, abs, type=functype([I32()], [I32()]), backend=backend)
    assert wasmjit.typed(store, host)(-5) == 5
    # print has no introspectable signature at all: type= is enough.
    silent = wasmjit.Function.from_callback(
        store, functools.partial(print, end="", file=_Sink()), type=functype([I32()], []), backend=backend
    )
    assert wasmjit.typed(store, silent)(3) is None


class _Sink:
    def write(self, text: str) -> None:
        pass


class Unrelated:
    pass


def _annotated(annotation: Any, returns: Any = i32) -> Callable[..., Any]:
    def f(x):  # type: ignore[no-untyped-def]
        return x

    f.__annotations__ = {"x": annotation, "return": returns}
    return f


BAD_PARAMETER_ANNOTATIONS: Dict[str, Any] = {
    "str": str,
    "bytes": bytes,
    "class": Unrelated,
    "list[int]": list[int],
    "dict": dict,
    "dict[str, int]": Dict[str, int],
    "Optional[int]": Optional[int],
    "Any": Any,
    "typing.List": typing.List,
    "tuple[i32]": Tuple[i32],
    "instance": Unrelated(),
    "list instance": [i32],
    "dict instance": {},
    "number": 42,
    "unresolvable string": "NoSuchName",
    "string expression": "i32 +",
    "Callable": Callable[[int], int],
}


@pytest.mark.parametrize("annotation", BAD_PARAMETER_ANNOTATIONS.values(), ids=BAD_PARAMETER_ANNOTATIONS.keys())
def test_parameter_annotations_naming_no_wasm_type(store: wasmtime.Store, annotation: Any) -> None:
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, _annotated(annotation))


BAD_RETURN_ANNOTATIONS: Dict[str, Any] = {
    "str": str,
    "list[int]": list[int],
    "dict": dict,
    "variadic tuple": Tuple[i32, ...],
    "tuple of str": Tuple[i32, str],
    "unresolvable string": "Missing",
    "bare tuple": tuple,
    "bare typing.Tuple": typing.Tuple,
    "Any": Any,
}


@pytest.mark.parametrize("annotation", BAD_RETURN_ANNOTATIONS.values(), ids=BAD_RETURN_ANNOTATIONS.keys())
def test_return_annotations_naming_no_wasm_type(store: wasmtime.Store, annotation: Any) -> None:
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, _annotated(i32, annotation))


async def async_callback(x: i32) -> i32:
    return x


async def async_generator(x: i32) -> Any:
    yield x


def generator(x: i32) -> i32:  # type: ignore[misc]
    yield x


class AsyncCallable:
    async def __call__(self, x: i32) -> i32:
        return x


@pytest.mark.parametrize(
    "callback",
    [async_callback, async_generator, generator, functools.partial(async_callback), AsyncCallable().__call__],
    ids=["async def", "async generator", "generator", "partial(async def)", "async bound method"],
)
def test_async_and_generator_functions(store: wasmtime.Store, callback: Callable[..., Any]) -> None:
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, callback)


def test_async_callable_object_fails_at_call_time(store: wasmtime.Store, backend: str) -> None:
    """An object whose ``__call__`` is async looks synchronous; its coroutine result is rejected."""
    host = wasmjit.Function.from_callback(store, AsyncCallable(), backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
        with pytest.raises(TypeError):
            wasmjit.typed(store, host, backend=backend)(1)
        gc.collect()


def test_bad_arguments_to_the_api(store: wasmtime.Store) -> None:
    def f(x: i32) -> i32:
        return x

    with pytest.raises(TypeError):
        wasmjit.Function.from_callback("not a store", f)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, f, type=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, f, backend="llvm")
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, f, dynamic_code="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wasmjit.Function.from_callback(store, f, dynamic_code=False, backend="bytecode")
    with pytest.raises(TypeError):  # first parameter is not a Caller
        wasmjit.Function.from_callback(store, f, access_caller=True)
    with pytest.raises(TypeError):  # annotations disagree with type=
        wasmjit.Function.from_callback(store, f, type=functype([I64()], [I32()]))
    with pytest.raises(TypeError):
        wasmjit.Function.from_callback(store, f, type=functype([I32(), I32()], [I32()]))
    host = wasmjit.Function.from_callback(store, f)
    with pytest.raises(TypeError):
        wasmjit.typed("not a store", host)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wasmjit.typed(store, f)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wasmjit.typed(store, host, typing.Callable[[i64], i32])
    with pytest.raises(TypeError):
        wasmjit.typed(store, host, typing.Callable[..., i32])
    with pytest.raises(TypeError):
        wasmjit.typed(store, host, int)
    with pytest.raises(ValueError):
        wasmjit.typed(store, host, backend="jit")
    assert wasmjit.typed(store, host, typing.Callable[[i32], i32])(3) == 3


# Call time: results ---------------------------------------------------------------

WAT = """
(module
  (import "h" "one" (func $one (param i32) (result i32)))
  (import "h" "many" (func $many (param i32) (result i32 f64 i64)))
  (import "h" "none" (func $none (param i32)))
  (import "h" "ref" (func $ref (param i32) (result funcref)))
  (func (export "one") (param i32) (result i32) (call $one (local.get 0)))
  (func (export "many") (param i32) (result i32 f64 i64) (call $many (local.get 0)))
  (func (export "none") (param i32) (call $none (local.get 0)))
  (func (export "ref") (param i32) (result funcref) (call $ref (local.get 0))))
"""


class RaisingIndex:
    def __index__(self) -> int:
        raise ValueError("__index__ refuses")

    def __int__(self) -> int:
        raise ValueError("__int__ refuses")


class OnlyInt:
    def __int__(self) -> int:
        return 1


class RaisingFloat:
    def __float__(self) -> float:
        raise ArithmeticError("__float__ refuses")


class ClaimsToBeATuple:
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return tuple


def _gen() -> Any:
    yield 1
    yield 2.0
    yield 3


#: (which export, what the callback returns, the exception expected)
BAD_RESULTS: List[Tuple[str, Any, type]] = [
    ("one", "1", TypeError),
    ("one", 1.0, TypeError),
    ("one", None, TypeError),
    ("one", 1 << 32, OverflowError),
    ("one", -(1 << 31) - 1, OverflowError),
    ("one", (1,), TypeError),
    ("one", RaisingIndex(), ValueError),
    ("one", OnlyInt(), TypeError),
    ("one", _gen, TypeError),  # a generator (made per call)
    ("many", (1, 2.0), TypeError),
    ("many", (1, 2.0, 3, 4), TypeError),
    ("many", [1, 2.0], TypeError),
    ("many", _gen, TypeError),
    ("many", {1: 1, 2: 2, 3: 3}, TypeError),
    ("many", {1, 2, 3}, TypeError),
    ("many", "abc", TypeError),
    ("many", 1, TypeError),
    ("many", None, TypeError),
    ("many", (1, "x", 3), TypeError),
    ("many", (1, RaisingFloat(), 3), ArithmeticError),
    ("many", (1, 2.0, 1 << 64), OverflowError),
    ("many", (1, 1 << 2000, 3), OverflowError),
    ("many", ClaimsToBeATuple(), TypeError),
    ("none", 0, TypeError),
    ("none", _gen, TypeError),
    ("ref", 1, TypeError),
    ("ref", "func", TypeError),
]


def test_bad_results(store: wasmtime.Store, backend: str) -> None:
    current: List[Any] = [None]

    def produce() -> Any:
        value = current[0]
        return value() if value is _gen else value

    def one(x: i32) -> i32:
        return produce()  # type: ignore[no-any-return]

    def many(x: i32) -> Tuple[i32, f64, i64]:
        return produce()  # type: ignore[no-any-return]

    def none(x: i32) -> None:
        return produce()  # type: ignore[no-any-return]

    def ref(x: i32) -> funcref:
        return produce()  # type: ignore[no-any-return]

    hosts = [wasmjit.Function.from_callback(store, fn, backend=backend) for fn in (one, many, none, ref)]
    exports = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), hosts).exports(store)
    calls = {name: wasmjit.typed(store, exports[name], backend=backend) for name in ("one", "many", "none", "ref")}
    failures = []
    for name, value, expected in BAD_RESULTS:
        current[0] = value
        for label, call in (("typed", calls[name]), ("stock", lambda x, n=name: exports[n](store, x))):
            try:
                call(1)
            except expected:
                pass
            except BaseException as exc:
                failures.append(f"{name} returning {value!r} via {label}: {type(exc).__name__}: {exc}")
            else:
                failures.append(f"{name} returning {value!r} via {label}: no exception")
    assert not failures, "\n".join(failures)
    # Everything still works.
    current[0] = 5
    assert calls["one"](0) == 5
    current[0] = (1, 2.5, 3)
    assert calls["many"](0) == (1, 2.5, 3)
    current[0] = None
    assert calls["none"](0) is None and calls["ref"](0) is None
    assert wasmjit.boundary.errors.take_pending() is None


def test_exception_hostile_to_printing(store: wasmtime.Store, backend: str) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    exc = Unprintable()

    def f(x: i32) -> i32:
        raise exc

    host = wasmjit.Function.from_callback(store, f, backend=backend)
    with pytest.raises(Unprintable) as info:
        wasmjit.typed(store, host, backend=backend)(1)
    assert info.value is exc


# Call time: arguments --------------------------------------------------------------


def test_bad_arguments(store: wasmtime.Store, backend: str) -> None:
    def f(a: i32, b: f64, c: externref) -> i64:
        return a

    host = wasmjit.Function.from_callback(store, f, backend=backend)
    call = wasmjit.typed(store, host, backend=backend)
    cases: List[Tuple[Tuple[Any, ...], type]] = [
        ((1, 2.0), TypeError),  # one too few
        ((1, 2.0, None, 4), TypeError),  # one too many
        ((), TypeError),
        (("1", 2.0, None), TypeError),
        ((1.5, 2.0, None), TypeError),
        ((None, 2.0, None), TypeError),
        ((1 << 32, 2.0, None), OverflowError),
        ((RaisingIndex(), 2.0, None), ValueError),
        ((OnlyInt(), 2.0, None), TypeError),
        ((1, "2.0", None), TypeError),
        ((1, RaisingFloat(), None), ArithmeticError),
        ((1, 1 << 2000, None), OverflowError),
        ((1, None, None), TypeError),
    ]
    failures = []
    for args, expected in cases:
        try:
            call(*args)
        except expected:
            pass
        except BaseException as exc:
            failures.append(f"{args!r}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{args!r}: no exception")
    assert not failures, "\n".join(failures)
    assert call(7, 1.0, object()) == 7


def test_many_parameters_and_results(store: wasmtime.Store, backend: str) -> None:
    """Far beyond the fuzzed sizes: 300 parameters, 100 results, mixed kinds."""
    kinds = ["i32", "i64", "f64", "externref", "f32"]
    params = [kinds[i % len(kinds)] for i in range(300)]
    results = [kinds[(i * 3) % len(kinds)] for i in range(100)]
    wat = f"""
    (module
      (import "h" "f" (func $f (param {" ".join(params)}) (result {" ".join(results)})))
      (func (export "run") (param {" ".join(params)}) (result {" ".join(results)})
        {" ".join(f"(local.get {i})" for i in range(len(params)))} (call $f)))
    """
    module = wasmtime.Module(store.engine, wat)
    token = object()

    def f(*args):  # type: ignore[no-untyped-def]
        assert len(args) == len(params)
        by_kind = {k: args[params.index(k)] for k in kinds}
        return tuple(by_kind[k] for k in results)

    host = wasmjit.Function.from_callback(store, f, type=module.imports[0].type, backend=backend)
    run = wasmjit.typed(store, wasmtime.Instance(store, module, [host]).exports(store)["run"], backend=backend)
    values = {"i32": -7, "i64": 1 << 40, "f64": 0.125, "externref": token, "f32": 1.5}
    got = run(*[values[k] for k in params])
    assert len(got) == len(results)
    assert all(g is values[k] if k == "externref" else g == values[k] for g, k in zip(got, results, strict=True))


# Stores and engines ------------------------------------------------------------------


def test_funcs_of_another_store_or_engine(backend: str) -> None:
    engine_a, engine_b = wasmtime.Engine(), wasmtime.Engine()
    store_a, store_a2, store_b = wasmtime.Store(engine_a), wasmtime.Store(engine_a), wasmtime.Store(engine_b)
    ty = functype([I32()], [I32()])

    def f(x: i32) -> i32:
        return x

    foreign = {
        "same engine": wasmjit.Function.from_callback(store_a2, f, backend=backend),
        "other engine": wasmjit.Function.from_callback(store_b, f, backend=backend),
        "stock, other engine": wasmtime.Func(store_b, functype([I32()], [I32()]), lambda x: x),
    }
    module = wasmtime.Module(engine_a, WAT)
    mine: List[Any] = []

    def ref(x: i32) -> funcref:
        return mine[0] if x == 0 else foreign_value[0]

    foreign_value: List[Any] = [None]
    hosts = [
        wasmjit.Function.from_callback(store_a, fn, backend=backend, type=t)
        for fn, t in (
            (lambda x: x, ty),
            (lambda x: (x, 0.0, 0), functype([I32()], [I32(), F64(), I64()])),
            (lambda x: None, functype([I32()], [])),
        )
    ] + [wasmjit.Function.from_callback(store_a, ref, backend=backend)]
    mine.append(hosts[0])
    exports = wasmtime.Instance(store_a, module, hosts).exports(store_a)
    get_ref = wasmjit.typed(store_a, exports["ref"], backend=backend)
    assert get_ref(0) is not None

    def takes_ref(x: funcref) -> i32:
        return 0 if x is None else 1

    takes = wasmjit.typed(store_a, wasmjit.Function.from_callback(store_a, takes_ref, backend=backend), backend=backend)
    for func in foreign.values():
        with pytest.raises(ValueError):
            wasmjit.typed(store_a, func, backend=backend)
        with pytest.raises(ValueError):
            takes(func)  # a funcref argument from elsewhere
        foreign_value[0] = func
        with pytest.raises(ValueError):
            get_ref(1)  # a funcref result from elsewhere
        with pytest.raises(wasmtime.WasmtimeError):
            wasmtime.Instance(store_a, module, [func, *hosts[1:]])
    assert takes(hosts[0]) == 1 and takes(None) == 0
    # A FuncType already used with engine A given for a function of engine B.
    used = module.imports[0].type
    again = wasmjit.Function.from_callback(store_b, lambda x: x + 1, type=used, backend=backend)
    assert wasmjit.typed(store_b, again)(1) == 2
    for s in (store_a, store_a2, store_b):
        s.close()


def test_f32_values_out_of_range_round(store: wasmtime.Store, backend: str) -> None:
    """Not an error: f32 results too large for single precision round to infinity, like IEEE."""

    def f(x: f32) -> f32:
        return 1e300

    call = wasmjit.typed(store, wasmjit.Function.from_callback(store, f, backend=backend), backend=backend)
    assert call(1e300) == float("inf")


# Callables whose signature is not their code's ------------------------------------------


def logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A typical decorator: every wrapper shares one code object; inspect follows ``__wrapped__``."""

    @functools.wraps(fn)
    def wrapper(*args):  # type: ignore[no-untyped-def]
        return fn(*args)

    return wrapper


@logged
def _one(a):  # type: ignore[no-untyped-def]
    return a + 1


@logged
def _two(a, b):  # type: ignore[no-untyped-def]
    return a * b


@logged
def _three(a, b, c=5):  # type: ignore[no-untyped-def]
    return a + b + c


def test_decorated_callables_keep_their_own_signature(store: wasmtime.Store, backend: str) -> None:
    """Wrappers of different functions made by one decorator are different callables to wasm."""
    one = wasmjit.Function.from_callback(store, _one, type=functype([I32()], [I32()]), backend=backend)
    two = wasmjit.Function.from_callback(store, _two, type=functype([I32(), I32()], [I32()]), backend=backend)
    three = wasmjit.Function.from_callback(store, _three, type=functype([I32(), I32()], [I32()]), backend=backend)
    assert wasmjit.typed(store, one)(3) == 4
    assert wasmjit.typed(store, two)(3, 4) == 12
    assert wasmjit.typed(store, three)(3, 4) == 12
    assert "_two" in repr(two), repr(two)


def test_explicit_signature_objects_are_honoured(store: wasmtime.Store, backend: str) -> None:
    """``__signature__`` (which ``inspect.signature`` honours) describes each callable, not its code."""
    import inspect

    def make(kinds: List[Any], result: Any) -> Callable[..., Any]:
        def f(*args):  # type: ignore[no-untyped-def]
            return sum(args)

        f.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(f"p{i}", inspect.Parameter.POSITIONAL_ONLY, annotation=k) for i, k in enumerate(kinds)],
            return_annotation=result,
        )
        return f

    first = wasmjit.Function.from_callback(store, make([i32], i32), backend=backend)
    second = wasmjit.Function.from_callback(store, make([i64, i64, i64], i64), backend=backend)
    assert str(first.signature) == "(i32) -> i32"
    assert str(second.signature) == "(i64, i64, i64) -> i64"
    assert wasmjit.typed(store, second)(1, 2, 3) == 6
