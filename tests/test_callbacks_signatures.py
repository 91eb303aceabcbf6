"""Generated signatures: 0 to 16 parameters and 0 to 8 results of mixed kinds.

For every (parameter count, result count) pair a signature is drawn from a
seeded RNG over the kinds wasmtime-py can also express (v128 has its own
file), and the same values go through:

* a callback declared with annotations (bare result, ``tuple[...]`` results),
* a ``*args`` callable registered with ``type=``,
* a callback that returns a *list* (accepted on the exact path),
* for one result, a ``tuple[k]`` callback returning a 1-tuple,
* stock ``wasmtime.Func`` with the same ``FuncType`` (the reference),

each through a real forwarding module; what the callback received and what
wasm received back must be identical everywhere, bit for bit.
"""

import random
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest
import wasmtime
from wasm_helpers import (
    CARRIERS,
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    U32_MAX,
    U64_MAX,
    as_list,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    forwarding_wat,
    from_carriers,
    functype,
    to_carriers,
)

import wasmjit

POOL = ("i32", "i64", "f32", "f64", "funcref", "externref")
MARKERS = {name: getattr(wasmjit, name) for name in POOL}
CASES = [(n, m) for n in range(17) for m in range(9)]


class Token:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Token({self.n})"


def draw_signature(nparams: int, nresults: int) -> Tuple[List[str], List[str], random.Random]:
    rng = random.Random(nparams * 1000 + nresults)
    params = [rng.choice(POOL) for _ in range(nparams)]
    results = [rng.choice(POOL) for _ in range(nresults)]
    return params, results, rng


def draw_f32_bits(rng: random.Random) -> int:
    bits = rng.choice([0, 0x8000_0000, 0x7F80_0000, 0x0000_0001, 0x7F7F_FFFF, 0x7FC0_0001, rng.getrandbits(32)])
    if (bits >> 23) & 0xFF == 0xFF and bits & 0x7F_FFFF:
        bits |= 0x40_0000  # quiet: a Python float cannot carry an f32 signalling NaN
    return bits


def draw_value(kind: str, rng: random.Random, funcs: Sequence[wasmtime.Func], result: bool) -> Any:
    """A value for ``kind``; floats as exact ``Bits``-compatible floats."""
    if kind == "i32":
        high = U32_MAX if result else I32_MAX
        return rng.choice([0, -1, I32_MIN, high, rng.randint(I32_MIN, high)])
    if kind == "i64":
        high = U64_MAX if result else I64_MAX
        return rng.choice([0, -1, I64_MIN, high, rng.randint(I64_MIN, high)])
    if kind == "f32":
        return f32_from_bits(draw_f32_bits(rng))
    if kind == "f64":
        return f64_from_bits(rng.choice([0x8000_0000_0000_0000, 0x7FF4_0000_0000_0001, rng.getrandbits(64)]))
    if kind == "funcref":
        return rng.choice([None, *funcs])
    return rng.choice([None, 0, "", Token(rng.randint(0, 99)), Token(-1)])


def observed(kind: str, value: Any, store: wasmtime.Store) -> Any:
    """A comparable form of a value a callback received or wasm returned."""
    if kind == "f32":
        return ("f32", value if isinstance(value, int) else f32_bits(value))
    if kind == "f64":
        return ("f64", value if isinstance(value, int) else f64_bits(value))
    if kind == "i32":
        return ("i32", value - (1 << 32) if value > I32_MAX else value)
    if kind == "i64":
        return ("i64", value - (1 << 64) if value > I64_MAX else value)
    if kind == "funcref":
        return ("funcref", None if value is None else value(store))
    return ("externref", id(value), type(value).__name__)


def annotated(params: Sequence[str], results: Sequence[str], body: Callable[..., Any], as_tuple: bool) -> Any:
    """A real ``def`` with marker annotations, built from source text."""
    names = [f"p{i}" for i in range(len(params))]
    args = ", ".join(f"{n}: {k}" for n, k in zip(names, params, strict=True))
    if not results:
        returns = "None"
    elif len(results) == 1 and not as_tuple:
        returns = results[0]
    else:
        returns = "tuple[" + ", ".join(results) + "]"
    source = f"def generated({args}) -> {returns}:\n    return body({', '.join(names)})\n"
    namespace: Dict[str, Any] = {"body": body, **MARKERS}
    exec(source, namespace)
    return namespace["generated"]


@pytest.mark.parametrize(("nparams", "nresults"), CASES, ids=[f"{n}p-{m}r" for n, m in CASES])
def test_generated_signature(backend: str, nparams: int, nresults: int) -> None:
    params, results, rng = draw_signature(nparams, nresults)
    store = wasmtime.Store()
    funcs = [wasmtime.Func(store, functype([], ["i32"]), lambda k=k: k) for k in (11, 22, 33)]
    inputs = [draw_value(k, rng, funcs, result=False) for k in params]
    outputs = [draw_value(k, rng, funcs, result=True) for k in results]
    module = wasmtime.Module(store.engine, forwarding_wat(params, results))
    ncarriers = sum(len(CARRIERS[k]) for k in results)
    args = to_carriers(params, inputs)

    def run_with(host: wasmtime.Func, seen: List[Tuple[Any, ...]]) -> List[Any]:
        run = wasmtime.Instance(store, module, [host]).exports(store)["run"]
        got = from_carriers(results, as_list(run(store, *args), ncarriers))
        assert len(seen) == 1, seen
        received = [observed(k, v, store) for k, v in zip(params, seen[0], strict=True)]
        returned = [observed(k, v, store) for k, v in zip(results, got, strict=True)]
        return [received, returned]

    def body_returning(shape: str, seen: List[Tuple[Any, ...]]) -> Callable[..., Any]:
        def body(*values: Any) -> Any:
            seen.append(values)
            if shape == "tuple":
                return tuple(outputs)
            if shape == "list":
                return list(outputs)
            if shape == "stock":
                return None if not results else (outputs[0] if len(results) == 1 else list(outputs))
            # "natural": nothing, one bare value, or a tuple
            if not results:
                return None
            return outputs[0] if len(results) == 1 else tuple(outputs)

        return body

    ty = functype(params, results)
    outcomes: Dict[str, Any] = {}

    seen: List[Tuple[Any, ...]] = []
    assert not getattr(wasmjit, "installed", lambda: False)()  # stock must be wasmtime-py's own
    outcomes["stock"] = run_with(wasmtime.Func(store, ty, body_returning("stock", seen)), seen)

    seen = []
    cb = annotated(params, results, body_returning("natural", seen), as_tuple=False)
    host = wasmjit.Function.from_callback(store, cb, backend=backend)
    assert host.backend == backend
    assert [str(k) for k in host.signature.params] == params
    assert [str(k) for k in host.signature.results] == results
    outcomes["annotated"] = run_with(host, seen)

    seen = []
    body = body_returning("natural", seen)
    host = wasmjit.Function.from_callback(store, lambda *a: body(*a), type=ty, backend=backend)
    outcomes["type="] = run_with(host, seen)

    if results:
        seen = []
        cb = annotated(params, results, body_returning("list", seen), as_tuple=True)
        outcomes["list"] = run_with(wasmjit.Function.from_callback(store, cb, backend=backend), seen)
        seen = []
        cb = annotated(params, results, body_returning("tuple", seen), as_tuple=True)
        outcomes["tuple"] = run_with(wasmjit.Function.from_callback(store, cb, backend=backend), seen)

    expected_received = [observed(k, v, store) for k, v in zip(params, inputs, strict=True)]
    expected_returned = [observed(k, v, store) for k, v in zip(results, outputs, strict=True)]
    for style, (received, returned) in outcomes.items():
        assert received == expected_received, style
        assert returned == expected_returned, style


def test_one_result_declared_as_tuple_must_return_a_1_tuple(backend: str) -> None:
    store = wasmtime.Store()

    def one(x: wasmjit.i32) -> tuple[wasmjit.i32]:
        return (x + 1,)

    host = wasmjit.Function.from_callback(store, one, backend=backend)
    assert host.signature.results_as_tuple
    run = wasmtime.Instance(store, wasmtime.Module(store.engine, forwarding_wat(["i32"], ["i32"])), [host])
    assert run.exports(store)["run"](store, 41) == 42
    # Called directly through wasmtime-py, a one-result function returns the bare value.
    assert host(store, 1) == 2

    def bare(x: wasmjit.i32) -> tuple[wasmjit.i32]:
        return x

    host = wasmjit.Function.from_callback(store, bare, backend=backend)
    with pytest.raises(TypeError, match="bare"):
        host(store, 1)


def test_tuple_subclasses_and_lists_are_accepted(backend: str) -> None:
    import collections

    Pair = collections.namedtuple("Pair", "a b")
    store = wasmtime.Store()
    queue: List[Any] = [Pair(1, 2), [3, 4], (5, 6)]

    def pair() -> tuple[wasmjit.i32, wasmjit.i64]:
        return queue.pop(0)

    host = wasmjit.Function.from_callback(store, pair, backend=backend)
    assert [host(store) for _ in range(3)] == [[1, 2], [3, 4], [5, 6]]
