"""The component fuzzing generator (tests/component_gen.py), held to stock wasmtime-py.

Stock wasmtime-py is the reference the differential fuzz
(tests/test_component_fuzz.py) compares wasmjit with, so here the generator
and the harness are proved on stock alone: seeded cases round-trip through a
stock host function and stock ``Func.__call__`` with no mismatch, the
generator reaches every shape it claims to, the canonical ABI helpers agree
with the spec's examples, and stock's own conventions and defects (the
reasons some shapes are not generated, and the documented differences) are
pinned, so that a wasmtime-py upgrade that changes them is noticed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest

pytest.importorskip("wasmtime.component")

import wasmtime
import wasmtime.component as wcs
from component_gen import (
    Case,
    EnumT,
    FlagsT,
    FuncT,
    ListT,
    OptionT,
    Prim,
    Profile,
    Record,
    RecordT,
    ResultT,
    TupleT,
    Type,
    Variant,
    VariantT,
    alignment,
    compile_component,
    component_text,
    flatten_functype,
    flatten_type,
    functype_types,
    make_case,
    random_functype,
    run_case,
    show,
    size,
    stock_ambiguous,
    stock_tagged,
    values_equal,
    walk,
    wit,
)

STOCK_CASES = 300
U32, STRING = Prim("u32"), Prim("string")


def one(params: tuple[Type, ...], result: Optional[Type], args: tuple[Any, ...], returns: Any) -> list[str]:
    """Run one hand-made call through stock (host and call); the mismatches' descriptions."""
    ft = FuncT(tuple((f"p{i}", t) for i, t in enumerate(params)), result)
    return [m.what for m in run_case(Case(0, ft, [(args, returns)], component_text(ft)))]


def record(**fields: Any) -> Record:
    """A stock ``Record`` (``a_b`` spells the field ``a-b``)."""
    rec = Record()
    for name, value in fields.items():
        setattr(rec, name.replace("_", "-"), value)
    return rec


# --------------------------------------------------------------------------
# The generator through stock
# --------------------------------------------------------------------------


def test_stock_round_trips_every_generated_case() -> None:
    """300 seeded cases (3 calls each): the stock host sees the arguments, ``run`` returns the host's result."""
    mismatches = []
    for seed in range(STOCK_CASES):
        mismatches += run_case(make_case(seed))
    assert not mismatches, "\n\n".join(map(str, mismatches[:5]))


def test_cases_are_deterministic() -> None:
    for seed in (0, 7, 123456789):
        a, b = make_case(seed), make_case(seed)
        assert a.ft == b.ft and a.text == b.text and wit(a.ft) == wit(b.ft)
        assert all(values_equal(x, y) for x, y in zip(a.calls, b.calls, strict=True))
        assert a.describe() == b.describe()


def _shape(t: Type) -> list[str]:
    if isinstance(t, Prim):
        return [t.name]
    if isinstance(t, ListT):
        return ["list<u8>" if t.element == Prim("u8") else "list"]
    if isinstance(t, VariantT):
        return ["variant"] + [f"variant-case-{'with' if c else 'without'}-payload" for _, c in t.cases]
    if isinstance(t, (EnumT, FlagsT)):
        kind = "enum" if isinstance(t, EnumT) else "flags"
        n = len(t.names)
        return [kind, f"{kind}-{'>256' if n > 256 else '>16' if n > 16 else '>8' if n > 8 else '<=8'}"]
    if isinstance(t, ResultT):
        return [f"result<{'T' if t.ok else '_'}, {'E' if t.err else '_'}>"]
    return [type(t).__name__]


def test_generator_reaches_every_shape() -> None:
    """The seeds the stock test runs cover every kind, every result shape, spills and return areas."""
    seen: Counter[str] = Counter()
    for seed in range(STOCK_CASES):
        ft = make_case(seed, calls=0).ft
        nflat = sum(len(flatten_type(t)) for _, t in ft.params)
        seen["no-params"] += not ft.params
        seen["no-result"] += ft.result is None
        seen[">16-flat-params"] += nflat > 16
        seen["retptr"] += len(flatten_functype(ft, "lower")[0]) > len(flatten_functype(ft, "lift")[0])
        for ty in functype_types(ft):
            seen["depth>=3"] += _depth(ty) >= 3
            for t in walk(ty):
                seen.update(_shape(t))
                if isinstance(t, (VariantT, OptionT, ResultT)):
                    seen[f"{type(t).__name__}-{'tagged' if stock_tagged(t) else 'untagged'}"] += 1
    expected = {
        "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
        "list<u8>", "list", "RecordT", "TupleT", "variant", "variant-case-with-payload",
        "variant-case-without-payload", "enum", "enum->256", "OptionT", "flags", "flags->8", "flags->16",
        "result<_, _>", "result<T, _>", "result<_, E>", "result<T, E>", "OptionT-tagged", "OptionT-untagged",
        "ResultT-tagged", "ResultT-untagged", "VariantT-tagged", "VariantT-untagged",
        "no-params", "no-result", ">16-flat-params", "retptr", "depth>=3",
    }  # fmt: skip
    assert expected <= {k for k, v in seen.items() if v}, sorted(expected - set(seen))


def _depth(t: Type) -> int:
    from component_gen import children

    return 1 + max((_depth(c) for c in children(t)), default=0)


def test_generated_names_are_valid_and_unique() -> None:
    """Names are kebab-case, unique ignoring case within a scope; keywords appear (``%`` in WIT)."""
    import re

    kebab = re.compile(r"^([a-z][a-z0-9]*|[A-Z][A-Z0-9]*)(-([a-z][a-z0-9]*|[A-Z][A-Z0-9]*))*$")
    keywords = 0
    for seed in range(STOCK_CASES):
        ft = make_case(seed, calls=0).ft
        scopes = [[n for n, _ in ft.params]]
        for ty in functype_types(ft):
            for t in walk(ty):
                if isinstance(t, (RecordT, VariantT)):
                    scopes.append([n for n, _ in (t.fields if isinstance(t, RecordT) else t.cases)])
                elif isinstance(t, (EnumT, FlagsT)):
                    scopes.append(list(t.names))
        for names in scopes:
            assert all(kebab.match(n) for n in names), names
            assert len({n.lower() for n in names}) == len(names), names
        keywords += wit(ft).count("%")
    assert keywords > 0


def test_harness_reports_what_differs() -> None:
    """The harness is not blind: a u8 argument stock wraps is reported with the seed, the WIT type and the values."""
    ft = FuncT((("x", Prim("u8")),), Prim("u8"))
    case = Case(42, ft, [((300,), 7)], component_text(ft))
    (m,) = run_case(case)
    assert m.what == "host saw (44)"
    text = str(m)
    assert "case seed 42" in text and "f: func(x: u8) -> u8;" in text and "args (300) host returns 7" in text


def test_show_spells_values_reproducibly() -> None:
    value = (record(a_b=1, c=[Variant("x"), Variant("y", 2.5)]), {"b", "a"}, b"\x00", float("nan"), ("s",))
    assert (
        show(value) == "(Record(a-b=1, c=[Variant('x'), Variant('y', 2.5)]), {'a', 'b'}, b'\\x00', "
        "nan(0x7ff8000000000000), ('s',))"
    )


def test_values_equal_is_strict() -> None:
    nan = float("nan")
    assert values_equal([nan, 1.0], [nan, 1.0])
    assert not values_equal(0.0, -0.0)
    assert not values_equal(True, 1) and not values_equal(1, 1.0) and not values_equal([1], (1,))
    assert not values_equal(b"a", [97])
    assert values_equal(record(a=1, b="x"), record(a=1, b="x"))
    assert not values_equal(record(a=1), record(a=1, b=2)) and not values_equal(record(a=1, b=2), record(a=1))
    assert values_equal(Variant("x"), Variant("x", None)) and not values_equal(Variant("x"), Variant("y"))
    assert not values_equal(Variant("x", True), Variant("x", 1))
    assert values_equal({"a", "b"}, {"b", "a"}) and not values_equal({"a"}, {"a", "b"})


# --------------------------------------------------------------------------
# The canonical ABI helpers
# --------------------------------------------------------------------------


def test_flattening_follows_the_spec() -> None:
    assert flatten_type(STRING) == ["i32", "i32"] and flatten_type(Prim("u64")) == ["i64"]
    # join: i32 and f32 share an i32 slot; anything else with a different type widens to i64.
    assert flatten_type(VariantT((("a", Prim("f32")), ("b", U32)))) == ["i32", "i32"]
    assert flatten_type(VariantT((("a", Prim("f64")), ("b", U32)))) == ["i32", "i64"]
    assert flatten_type(ResultT(Prim("f32"), STRING)) == ["i32", "i32", "i32"]
    assert flatten_type(OptionT(TupleT((Prim("f64"), Prim("f32"))))) == ["i32", "f64", "f32"]
    assert flatten_type(ResultT(None, None)) == ["i32"] and flatten_type(FlagsT(("a",) * 32)) == ["i32"]
    many = FuncT(tuple((f"p{i}", U32) for i in range(17)), TupleT((U32, U32)))
    assert flatten_functype(many, "lift") == (["i32"], ["i32"])
    assert flatten_functype(many, "lower") == (["i32", "i32"], [])
    sixteen = FuncT(tuple((f"p{i}", U32) for i in range(16)), U32)
    assert flatten_functype(sixteen, "lower") == (["i32"] * 16, ["i32"])


def test_sizes_follow_the_spec() -> None:
    padded = RecordT((("a", Prim("u8")), ("b", Prim("u64")), ("c", Prim("u8"))))
    assert (size(padded), alignment(padded)) == (24, 8)
    assert (size(OptionT(Prim("u8"))), alignment(OptionT(Prim("u8")))) == (2, 1)
    assert (size(ResultT(STRING, Prim("f64"))), alignment(ResultT(STRING, Prim("f64")))) == (16, 8)
    big = EnumT(tuple(f"e{i}" for i in range(257)))
    assert (size(big), alignment(big), size(FlagsT(("a",) * 9)), size(FlagsT(("a",) * 17))) == (2, 2, 2, 4)
    assert size(VariantT((("a", None),))) == 1 and size(TupleT((Prim("char"), Prim("bool")))) == 8


# --------------------------------------------------------------------------
# Stock's conventions (what wasmjit without signature= must reproduce)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ty, values",
    [
        (OptionT(U32), [None, 5]),  # untagged: None or the payload
        # none and some(option) both count as `object`: tagged; the inner option stays untagged
        (OptionT(OptionT(U32)), [Variant("none"), Variant("some", None), Variant("some", 5)]),
        (ResultT(U32, STRING), [5, "e"]),  # untagged: the bare payload picks the case
        (ResultT(U32, None), [5, None]),  # err without payload is None
        (ResultT(None, STRING), [None, "e"]),
        (ResultT(None, None), [Variant("ok"), Variant("err")]),  # both cases are `object`: tagged
        (ResultT(STRING, STRING), [Variant("ok", "a"), Variant("err", "b")]),
        (VariantT((("a", None), ("b", U32), ("c", STRING))), [None, 7, "s"]),
        (VariantT((("a", None), ("b", None))), [Variant("a"), Variant("b")]),
        (EnumT(("a-b", "c")), ["a-b", "c"]),
        (FlagsT(("x", "y-z")), [set(), {"y-z"}, {"x", "y-z"}]),
        (RecordT((("a-b", U32), ("type", STRING))), [record(a_b=1, type="t")]),
        (ListT(Prim("u8")), [b"", b"\x00\xff"]),
        (ListT(Prim("s8")), [[], [-1, 2]]),
        (TupleT((Prim("char"), Prim("bool"))), [("\U0010ffff", True)]),
    ],
    ids=lambda v: wit(FuncT((("x", v),), None)).replace("\n", "; ") if not isinstance(v, list) else "",
)
def test_stock_shapes(ty: Type, values: list[Any]) -> None:
    for v in values:
        assert one((ty,), ty, (v,), v) == []


def test_stock_option_of_option_refuses_a_bare_none() -> None:
    nested = OptionT(OptionT(U32))
    assert stock_tagged(nested) and not stock_tagged(OptionT(U32))
    assert one((nested,), None, (None,), None) == ["run raised TypeError: expected Variant type"]


# --------------------------------------------------------------------------
# Stock's defects and differences (pinned; not generated by default)
# --------------------------------------------------------------------------


def test_stock_untagged_bool_after_int_is_lowered_as_the_int_case() -> None:
    """``result<u32, bool>`` is untagged ({int} and {bool} are disjoint sets), but ``True`` is an ``int``."""
    ty = ResultT(U32, Prim("bool"))
    assert stock_ambiguous(ty) and not stock_tagged(ty)
    assert one((ty,), ty, (True,), True) == ["host saw (1)", "run returned 1"]  # err(true) arrives as ok(1)


def test_stock_untagged_payload_with_object_claims_every_value() -> None:
    """``result<option<u32>, string>``: the ok case's classes include ``object`` (option's none): ``"x"`` fails."""
    ty = ResultT(OptionT(U32), STRING)
    assert stock_ambiguous(ty) and not stock_tagged(ty)
    assert one((ty,), None, ("x",), None) == ["run raised ValueError: value not valid for this variant"]


def test_ambiguous_shapes_are_generated_only_on_request() -> None:
    import random

    rng = random.Random(5)
    profile = Profile(allow_ambiguous=True)
    assert any(any(map(stock_ambiguous, functype_types(random_functype(rng, profile)))) for _ in range(2000))
    assert not any(any(map(stock_ambiguous, functype_types(make_case(s, calls=0).ft))) for s in range(300))


@pytest.mark.parametrize(
    "ty, sent, arrives",
    [
        (Prim("u8"), 300, 44),
        (Prim("u8"), -1, 255),
        (Prim("s8"), 200, -56),
        (Prim("s64"), 2**64, 0),
        (Prim("u64"), -1, 2**64 - 1),
        (Prim("f32"), 1e300, float("inf")),  # rounded to single precision
        (Prim("f32"), 0.1, 0.10000000149011612),
    ],
)
def test_stock_wraps_ints_and_rounds_f32_silently(ty: Prim, sent: Any, arrives: Any) -> None:
    """Out-of-range ints are wrapped by ctypes in both directions (wasmjit raises OverflowError instead)."""
    assert one((ty,), ty, (sent,), sent) == [f"host saw ({show(arrives)})", f"run returned {show(arrives)}"]


def test_stock_ignores_extra_record_attributes() -> None:
    ty = RecordT((("x", U32),))
    assert one((ty,), None, (record(x=1, y=2),), None) == ["host saw (Record(x=1))"]


def test_stock_record_equality_is_one_sided() -> None:
    """``Record.__eq__`` only checks its own attributes (and defines no hash): why :func:`values_equal` exists."""
    small, big = record(x=1), record(x=1, y=2)
    assert small == big and big != small  # the asymmetry is the point
    assert Record.__hash__ is None
    assert not values_equal(small, big)


def test_wasmtime_refuses_more_than_32_flags() -> None:
    """wasmtime 50 rejects a flags type with more than 32 names when parsing the component."""
    ft = FuncT((("x", FlagsT(tuple(f"f{i}" for i in range(33)))),), None)
    with pytest.raises(wasmtime.WasmtimeError, match="cannot have more than 32 flags"):
        compile_component(component_text(ft))
    compile_component(component_text(FuncT((("x", FlagsT(tuple(f"f{i}" for i in range(32)))),), None)))


_CRASH = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from component_gen import Case, FuncT, Prim, component_text, run_case
    ft = FuncT({params}, {result})
    print(run_case(Case(0, ft, [({args}, {returns})], component_text(ft))))
    """
)


@pytest.mark.parametrize(
    "params, result, args, returns, signal",
    [
        # A lone surrogate as a char argument: ord() goes to wasmtime's C API, which unwraps
        # char::from_u32 and panics ("called `Option::unwrap()` on a `None` value"): abort.
        ("(('x', Prim('char')),)", "None", "('\\ud800',)", "None", "panicked"),
        # A host function returning a string with a lone surrogate: the UnicodeEncodeError
        # inside stock's func_impl ends in a segmentation fault on 3.11 here; on 3.12 and
        # 3.13 it was seen to surface as the error instead (what is left in memory decides).
        ("()", "Prim('string')", "()", "'\\udfff'", "UnicodeEncodeError?"),
    ],
    ids=["char-argument-surrogate-aborts", "string-result-surrogate-crashes"],
)
def test_stock_crashes_on_surrogates(params: str, result: str, args: str, returns: str, signal: str) -> None:
    """Pinned stock crashes (in a subprocess): wasmjit must raise instead (a test in test_component_fuzz.py)."""
    code = _CRASH.format(tests=str(Path(__file__).parent), params=params, result=result, args=args, returns=returns)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if signal.endswith("?") and done.returncode == 0:  # a crash, or at least never a value
        assert signal[:-1] in done.stdout, (done.stdout, done.stderr[-2000:])
        return
    assert done.returncode < 0 or done.returncode > 1, (done.returncode, done.stdout, done.stderr[-2000:])
    assert signal.rstrip("?") in done.stderr or signal.endswith("?")


def test_stock_string_argument_with_surrogate_raises() -> None:
    assert one((STRING,), None, ("\ud800",), None) == [
        "run raised UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 0: "
        "surrogates not allowed"
    ]


def test_cli_prints_and_runs_a_case() -> None:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "component_gen.py"), "3", "--text"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("case seed 3 (python tests/component_gen.py 3)") and "(component" in done.stdout


def test_the_component_declares_what_stock_reads() -> None:
    """``run``'s type, as stock reads it from the instance, has the generated parameter names and kinds."""
    case = make_case(11, calls=0)
    store = wasmtime.Store(wasmtime.Engine())
    linker = wcs.Linker(store.engine)
    with linker.root() as root:
        root.add_func("f", lambda *_: None)
    comp = wcs.Component(store.engine, case.text)
    func = linker.instantiate(store, comp).get_func(store, "run")
    assert func is not None
    assert [n for n, _ in func.type(store).params] == [n for n, _ in case.ft.params]
