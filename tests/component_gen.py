"""Random WIT function types, components that forward them, values and a differential harness.

The pieces, each usable alone:

* **Types** (:class:`Prim`, :class:`ListT`, :class:`RecordT`, :class:`TupleT`,
  :class:`VariantT`, :class:`EnumT`, :class:`OptionT`, :class:`ResultT`,
  :class:`FlagsT`, :class:`FuncT`) and :func:`random_functype`, which draws a
  function type from a seeded ``random.Random``: every WIT value type but
  resources, nested to a bounded depth and size, 0..20 parameters (so that
  more than 16 flat parameters spill to memory), with or without a result.
  Flags have 1..32 names: wasmtime 50 refuses a component with more ("cannot
  have more than 32 flags", the component model's current limit), so the
  canonical ABI's multi-word flags cannot be exercised.  Enums now and then
  have more than 256 cases (a two-byte discriminant).
  :func:`wit` renders a function type in WIT syntax (for failure messages).
* **The canonical ABI** (CanonicalABI.md): :func:`flatten_type`,
  :func:`flatten_functype` (``MAX_FLAT_PARAMS`` = 16, ``MAX_FLAT_RESULTS`` =
  1, ``join`` for variants), :func:`size` and :func:`alignment`.
* **A component** (:func:`component_text`, component text format) that
  imports a host function ``f`` and exports ``run`` of the same type, which
  calls ``f`` and returns what it returned.  A core module provides
  ``memory``, a bump ``realloc`` (cabi_realloc's signature) and ``reset``; a
  small core adapter takes the flat parameters, calls the lowered import
  (with a return area from ``realloc`` when the result flattens to more than
  one core value) and returns its result or that area; ``reset``, run as
  ``run``'s post-return, gives the bump allocator's memory back after every
  call, so any number of calls runs in constant guest memory.
* **Values** in stock wasmtime-py's shapes (:func:`random_value`), what stock
  ``Func.__call__`` accepts and returns and what stock host functions receive
  and return.  The conventions, read from ``wasmtime/component/_types.py``
  (wasmtime-py 50) and checked by tests/test_component_gen.py:

  - ``bool`` as ``bool``; ``s8``..``u64`` as ``int``; ``f32``/``f64`` as
    ``float``; ``char`` as a one-character ``str``; ``string`` as ``str``;
    ``list<u8>`` as ``bytes`` (exactly: not bytearray); other lists as
    ``list``; tuples as ``tuple``;
  - ``record`` as ``wasmtime.component.Record`` with one attribute per field,
    named by the field's kebab-case name (``getattr(r, "a-b")``);
  - ``enum`` as the case name (``str``); ``flags`` as a ``set`` of names;
  - ``variant``, ``option`` and ``result`` share one rule (``VariantLikeType``):
    the type is *tagged* when two of its cases' Python class sets overlap (a
    case without payload counts as ``object``); then every value is
    ``Variant(tag, payload)`` (payload ``None`` for a case without one);
    otherwise it is *untagged*: a case without payload is ``None``, a case
    with one is the bare payload, and lowering picks the first case whose
    classes the value is an instance of.  So ``option<u32>`` is ``None`` or
    an ``int``, but ``option<option<u32>>`` is ``Variant("none")`` /
    ``Variant("some", None)`` / ``Variant("some", 5)``; ``result<u32,
    string>`` is ``5`` (ok) or ``"x"`` (err); ``result<u32>`` is ``5`` or
    ``None`` (err); ``result`` and ``result<string, string>`` are tagged.
    :func:`stock_tagged` mirrors the rule.

  Untagged lowering goes wrong when a later case's values are instances of an
  earlier case's classes (:func:`stock_ambiguous`): ``bool`` is an ``int``
  (``result<u32, bool>``: ``err(True)`` goes in as ``ok(1)``), and a payload
  whose classes include ``object`` (an untagged option or result inside)
  claims every value (``result<option<u32>, string>``: ``err("x")`` raises
  ``ValueError``).  Those shapes are not generated (``allow_ambiguous=False``)
  and are pinned by tests/test_component_gen.py.
* **Equality** (:func:`values_equal`): strict on Python types (``True`` is not
  ``1``), NaN equals NaN, ``-0.0`` differs from ``0.0``, records compare their
  attribute dictionaries, variants their tag and payload.
* **The harness** (:func:`make_case`, :func:`run_case`): a host function that
  records its arguments and returns a chosen result; ``run`` is called with
  random arguments; the host must have seen exactly those and ``run`` must
  return exactly that result.  The host side and the call side are each
  ``"stock"`` (``LinkerInstance.add_func``, ``Func.__call__``) or
  ``"wasmjit"`` (``wasmjit.component.define_callback`` / ``typed`` on a
  backend).

Run ``python tests/component_gen.py SEED [SEED...]`` to print a case's WIT
type and values and run it through stock wasmtime-py.
"""

from __future__ import annotations

import math
import random
import re
import struct
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import wasmtime
import wasmtime.component as wc_stock

# --------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------

INTS: Dict[str, Tuple[int, int]] = {
    "s8": (-(2**7), 2**7 - 1),
    "u8": (0, 2**8 - 1),
    "s16": (-(2**15), 2**15 - 1),
    "u16": (0, 2**16 - 1),
    "s32": (-(2**31), 2**31 - 1),
    "u32": (0, 2**32 - 1),
    "s64": (-(2**63), 2**63 - 1),
    "u64": (0, 2**64 - 1),
}
PRIMS = ("bool", *INTS, "f32", "f64", "char", "string")


@dataclass(frozen=True)
class Prim:
    """A primitive WIT type: bool, s8..u64, f32, f64, char or string."""

    name: str


@dataclass(frozen=True)
class ListT:
    """``list<element>``."""

    element: "Type"


@dataclass(frozen=True)
class RecordT:
    """``record { name: type, ... }`` (at least one field)."""

    fields: Tuple[Tuple[str, "Type"], ...]


@dataclass(frozen=True)
class TupleT:
    """``tuple<...>`` (at least one element)."""

    elements: Tuple["Type", ...]


@dataclass(frozen=True)
class VariantT:
    """``variant { case, case(type), ... }`` (at least one case)."""

    cases: Tuple[Tuple[str, Optional["Type"]], ...]


@dataclass(frozen=True)
class EnumT:
    """``enum { name, ... }``."""

    names: Tuple[str, ...]


@dataclass(frozen=True)
class OptionT:
    """``option<payload>``."""

    payload: "Type"


@dataclass(frozen=True)
class ResultT:
    """``result``, ``result<ok>``, ``result<_, err>`` or ``result<ok, err>``."""

    ok: Optional["Type"]
    err: Optional["Type"]


@dataclass(frozen=True)
class FlagsT:
    """``flags { name, ... }``."""

    names: Tuple[str, ...]


Type = Union[Prim, ListT, RecordT, TupleT, VariantT, EnumT, OptionT, ResultT, FlagsT]
Named = Union[RecordT, VariantT, EnumT, FlagsT]
NAMED = (RecordT, VariantT, EnumT, FlagsT)


@dataclass(frozen=True)
class FuncT:
    """A component function type ``func(params) -> result``."""

    params: Tuple[Tuple[str, Type], ...]
    result: Optional[Type]


def cases_of(ty: Union[VariantT, OptionT, ResultT]) -> Tuple[Tuple[str, Optional[Type]], ...]:
    """The cases of a variant-like type, as the canonical ABI (and stock) see them."""
    if isinstance(ty, VariantT):
        return ty.cases
    if isinstance(ty, OptionT):
        return (("none", None), ("some", ty.payload))
    return (("ok", ty.ok), ("err", ty.err))


def children(ty: Type) -> Iterator[Type]:
    """The directly nested types."""
    if isinstance(ty, ListT):
        yield ty.element
    elif isinstance(ty, RecordT):
        yield from (t for _, t in ty.fields)
    elif isinstance(ty, TupleT):
        yield from ty.elements
    elif isinstance(ty, (VariantT, OptionT, ResultT)):
        yield from (t for _, t in cases_of(ty) if t is not None)


def walk(ty: Type) -> Iterator[Type]:
    """``ty`` and every type nested in it, children before parents (definition order)."""
    for child in children(ty):
        yield from walk(child)
    yield ty


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

# WIT keywords: a name spelled like one is written ``%name`` in WIT.  The
# component binary and text formats carry names as strings, so keywords are
# valid names there; a few are in the vocabulary on purpose.
WIT_KEYWORDS = frozenset(
    """as async bool borrow char constructor enum export f32 f64 flags float32 float64 from func future
    import include interface list own package record resource result s16 s32 s64 s8 static stream string
    tuple type u16 u32 u64 u8 use variant with world option error-context""".split()
)
WORDS = (
    "a", "b", "c", "x", "y", "id", "name", "value", "count", "first", "last", "item", "data", "kind",
    "red", "green", "blue", "ok", "err", "none", "some", "type", "list", "record", "string", "enum",
    "flags", "result", "v2", "x86", "k9", "HTTP", "IO", "utf8",
)  # fmt: skip


def random_name(rng: random.Random) -> str:
    """A kebab-case WIT identifier: 1-3 words, each lowercase (or all-uppercase) letters then digits."""
    return "-".join(rng.choice(WORDS) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))


def unique_names(rng: random.Random, n: int) -> Tuple[str, ...]:
    """``n`` distinct names (distinct ignoring case, as the component model requires)."""
    names: List[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = random_name(rng)
        if name.lower() in seen:
            name = f"{name}-n{len(names)}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return tuple(names)


# --------------------------------------------------------------------------
# Random types
# --------------------------------------------------------------------------


@dataclass
class Profile:
    """Bounds for random function types."""

    max_depth: int = 4
    max_nodes: int = 24  # type nodes per parameter or result
    max_params: int = 20
    max_cases: int = 6
    max_fields: int = 5
    max_flags: int = 32  # wasmtime 50 refuses more: "cannot have more than 32 flags"
    allow_ambiguous: bool = False  # shapes stock's untagged lowering gets wrong (see stock_ambiguous)


def random_type(rng: random.Random, profile: Profile, depth: int = 0, budget: Optional[List[int]] = None) -> Type:
    """A random value type; ``budget`` (a one-element list) bounds the node count across a whole type."""
    if budget is None:
        budget = [profile.max_nodes]
    budget[0] -= 1
    if depth >= profile.max_depth or budget[0] <= 0 or rng.random() < 0.35 + 0.1 * depth:
        return Prim(rng.choice(PRIMS))
    kind = rng.choice(("list", "list", "record", "tuple", "variant", "enum", "option", "option", "result", "flags"))

    def sub() -> Type:
        return random_type(rng, profile, depth + 1, budget)

    if kind == "list":
        return ListT(Prim("u8") if rng.random() < 0.25 else sub())
    if kind == "record":
        names = unique_names(rng, rng.randint(1, profile.max_fields))
        return RecordT(tuple((n, sub()) for n in names))
    if kind == "tuple":
        return TupleT(tuple(sub() for _ in range(rng.randint(1, 4))))
    if kind == "variant":
        names = unique_names(rng, rng.randint(1, profile.max_cases))
        return VariantT(tuple((n, sub() if rng.random() < 0.6 else None) for n in names))
    if kind == "enum":
        # Now and then more than 256 cases: a two-byte discriminant.
        count = rng.randint(257, 300) if rng.random() < 0.03 else rng.randint(1, 8)
        return EnumT(unique_names(rng, count))
    if kind == "option":
        return OptionT(sub())
    if kind == "result":
        shape = rng.randrange(4)
        return ResultT(sub() if shape & 1 else None, sub() if shape & 2 else None)
    count = rng.randint(1, profile.max_flags) if rng.random() < 0.3 else rng.randint(1, 10)
    return FlagsT(unique_names(rng, count))


def random_functype(rng: random.Random, profile: Optional[Profile] = None) -> FuncT:
    """A random function type; regenerated until stock can round-trip it (unless ``allow_ambiguous``)."""
    profile = profile or Profile()
    while True:
        r = rng.random()
        if r < 0.08:
            nparams = 0
        elif r < 0.85:
            nparams = rng.randint(1, 4)
        else:
            nparams = rng.randint(5, profile.max_params)
        params = tuple((name, random_type(rng, profile)) for name in unique_names(rng, nparams))
        result = None if rng.random() < 0.15 else random_type(rng, profile)
        ft = FuncT(params, result)
        if profile.allow_ambiguous or not any(stock_ambiguous(t) for t in functype_types(ft)):
            return ft


def functype_types(ft: FuncT) -> List[Type]:
    """The parameter types and the result type."""
    return [t for _, t in ft.params] + ([ft.result] if ft.result is not None else [])


# --------------------------------------------------------------------------
# WIT syntax (for messages)
# --------------------------------------------------------------------------


def wit_name(name: str) -> str:
    """``name`` as a WIT identifier (``%`` before keywords)."""
    return f"%{name}" if name in WIT_KEYWORDS else name


class _Namer:
    """Names the named types (record, variant, enum, flags) of a function type ``t0``, ``t1``...

    Types are keyed by identity: structurally equal types defined at two
    places get two names, as they get two definitions in the component.
    """

    def __init__(self, ft: FuncT) -> None:
        self.order: List[Named] = []
        self.index: Dict[int, int] = {}
        for ty in functype_types(ft):
            for t in walk(ty):
                if isinstance(t, NAMED) and id(t) not in self.index:
                    self.index[id(t)] = len(self.order)
                    self.order.append(t)

    def __getitem__(self, ty: Named) -> int:
        return self.index[id(ty)]


def wit_type(ty: Type, namer: _Namer) -> str:
    """A type's WIT spelling (named types by their ``tN`` name)."""
    if isinstance(ty, Prim):
        return ty.name
    if isinstance(ty, NAMED):
        return f"t{namer[ty]}"
    if isinstance(ty, ListT):
        return f"list<{wit_type(ty.element, namer)}>"
    if isinstance(ty, TupleT):
        return f"tuple<{', '.join(wit_type(t, namer) for t in ty.elements)}>"
    if isinstance(ty, OptionT):
        return f"option<{wit_type(ty.payload, namer)}>"
    assert isinstance(ty, ResultT)
    ok = "_" if ty.ok is None else wit_type(ty.ok, namer)
    if ty.err is None:
        return "result" if ty.ok is None else f"result<{ok}>"
    return f"result<{ok}, {wit_type(ty.err, namer)}>"


def wit(ft: FuncT) -> str:
    """The function type in WIT syntax: its named type definitions, then ``f: func(...)``."""
    namer = _Namer(ft)
    lines = []
    for i, t in enumerate(namer.order):
        if isinstance(t, RecordT):
            body = ", ".join(f"{wit_name(n)}: {wit_type(ty, namer)}" for n, ty in t.fields)
            lines.append(f"record t{i} {{ {body} }}")
        elif isinstance(t, VariantT):
            body = ", ".join(
                wit_name(n) if ty is None else f"{wit_name(n)}({wit_type(ty, namer)})" for n, ty in t.cases
            )
            lines.append(f"variant t{i} {{ {body} }}")
        elif isinstance(t, EnumT):
            lines.append(f"enum t{i} {{ {', '.join(map(wit_name, t.names))} }}")
        else:
            lines.append(f"flags t{i} {{ {', '.join(map(wit_name, t.names))} }}")
    params = ", ".join(f"{wit_name(n)}: {wit_type(t, namer)}" for n, t in ft.params)
    result = "" if ft.result is None else f" -> {wit_type(ft.result, namer)}"
    lines.append(f"f: func({params}){result};")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The canonical ABI
# --------------------------------------------------------------------------

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1


def discriminant_size(n: int) -> int:
    """Bytes of the discriminant of a variant (or enum) with ``n`` cases."""
    return 1 if n <= 2**8 else 2 if n <= 2**16 else 4


def flags_words(n: int) -> int:
    """i32 values that ``n`` flags flatten to."""
    return 0 if n == 0 else 1 if n <= 32 else -(-n // 32)


def flatten_type(ty: Type) -> List[str]:
    """``flatten_type``: the core value types a value of ``ty`` flattens to."""
    if isinstance(ty, Prim):
        return {"s64": ["i64"], "u64": ["i64"], "f32": ["f32"], "f64": ["f64"], "string": ["i32", "i32"]}.get(
            ty.name, ["i32"]
        )
    if isinstance(ty, ListT):
        return ["i32", "i32"]
    if isinstance(ty, RecordT):
        return [v for _, t in ty.fields for v in flatten_type(t)]
    if isinstance(ty, TupleT):
        return [v for t in ty.elements for v in flatten_type(t)]
    if isinstance(ty, EnumT):
        return ["i32"]
    if isinstance(ty, FlagsT):
        return ["i32"] * flags_words(len(ty.names))
    flat: List[str] = []
    for _, case in cases_of(ty):
        if case is None:
            continue
        for i, v in enumerate(flatten_type(case)):
            if i < len(flat):
                flat[i] = join(flat[i], v)
            else:
                flat.append(v)
    return ["i32", *flat]


def join(a: str, b: str) -> str:
    """``join``: the core type two variant cases share a flat slot in."""
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flatten_functype(ft: FuncT, context: str) -> Tuple[List[str], List[str]]:
    """``flatten_functype``: core (params, results) of ``run`` lifted (``"lift"``) or ``f`` lowered (``"lower"``)."""
    params = [v for _, t in ft.params for v in flatten_type(t)]
    results = [] if ft.result is None else flatten_type(ft.result)
    if len(params) > MAX_FLAT_PARAMS:
        params = ["i32"]
    if len(results) > MAX_FLAT_RESULTS:
        if context == "lift":
            results = ["i32"]
        else:
            params = [*params, "i32"]
            results = []
    return params, results


def align_to(n: int, a: int) -> int:
    """``n`` rounded up to a multiple of ``a``."""
    return -(-n // a) * a


def alignment(ty: Type) -> int:
    """``alignment``: the alignment of ``ty`` in linear memory."""
    if isinstance(ty, Prim):
        return {"bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s64": 8, "u64": 8, "f64": 8}.get(ty.name, 4)
    if isinstance(ty, ListT):
        return 4
    if isinstance(ty, (RecordT, TupleT)):
        return max(alignment(t) for t in children(ty))
    if isinstance(ty, EnumT):
        return discriminant_size(len(ty.names))
    if isinstance(ty, FlagsT):
        n = len(ty.names)
        return 1 if n <= 8 else 2 if n <= 16 else 4
    cases = cases_of(ty)
    return max(discriminant_size(len(cases)), _max_case_alignment(cases))


def _max_case_alignment(cases: Sequence[Tuple[str, Optional[Type]]]) -> int:
    return max((alignment(t) for _, t in cases if t is not None), default=1)


def size(ty: Type) -> int:
    """``elem_size``: the size of ``ty`` in linear memory."""
    if isinstance(ty, Prim):
        return {"string": 8}.get(ty.name, alignment(ty))
    if isinstance(ty, ListT):
        return 8
    if isinstance(ty, (RecordT, TupleT)):
        s = 0
        for t in children(ty):
            s = align_to(s, alignment(t)) + size(t)
        return align_to(s, alignment(ty))
    if isinstance(ty, EnumT):
        return discriminant_size(len(ty.names))
    if isinstance(ty, FlagsT):
        n = len(ty.names)
        return 1 if n <= 8 else 2 if n <= 16 else 4 * flags_words(n)
    cases = cases_of(ty)
    s = align_to(discriminant_size(len(cases)), _max_case_alignment(cases))
    s += max((size(t) for _, t in cases if t is not None), default=0)
    return align_to(s, alignment(ty))


# --------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------

HEAP_BASE = 1024  # the bump allocator's first address; below it stays unused

# memory, realloc (a bump allocator that grows memory as needed; it copies
# for a real reallocation, which the canonical ABI does not ask for with
# utf-8 strings) and reset (frees everything: run's post-return).
CORE_MEMORY_MODULE = f"""
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const {HEAP_BASE}))
    (func $realloc (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $p i32) (local $end i32) (local $have i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $p) (local.get $size)))
      (local.set $have (i32.mul (memory.size) (i32.const 65536)))
      (if (i32.gt_u (local.get $end) (local.get $have))
        (then
          (if (i32.eq (i32.const -1)
                      (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                                              (i32.const 16))))
            (then unreachable))))
      (if (local.get $old)
        (then (memory.copy (local.get $p) (local.get $old)
                           (select (local.get $old_size) (local.get $size)
                                   (i32.lt_u (local.get $old_size) (local.get $size))))))
      (global.set $bump (local.get $end))
      (local.get $p))
    (func (export "reset") (global.set $bump (i32.const {HEAP_BASE}))))
  (core instance $mi (instantiate $m))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (alias core export $mi "reset" (core func $reset))"""


def _ctype(ty: Type, namer: _Namer, side: str) -> str:
    """A type in component text format; named types by their imported (``i``) or exported (``o``) index."""
    if isinstance(ty, Prim):
        return ty.name
    if isinstance(ty, NAMED):
        return f"$t{namer[ty]}{side}"
    if isinstance(ty, ListT):
        return f"(list {_ctype(ty.element, namer, side)})"
    if isinstance(ty, TupleT):
        return f"(tuple {' '.join(_ctype(t, namer, side) for t in ty.elements)})"
    if isinstance(ty, OptionT):
        return f"(option {_ctype(ty.payload, namer, side)})"
    assert isinstance(ty, ResultT)
    parts = ["result"]
    if ty.ok is not None:
        parts.append(_ctype(ty.ok, namer, side))
    if ty.err is not None:
        parts.append(f"(error {_ctype(ty.err, namer, side)})")
    return f"({' '.join(parts)})"


def _cdef(ty: Named, namer: _Namer) -> str:
    """A named type's definition; nested named types by their imported index."""
    if isinstance(ty, RecordT):
        return "(record " + " ".join(f'(field "{n}" {_ctype(t, namer, "i")})' for n, t in ty.fields) + ")"
    if isinstance(ty, VariantT):
        cases = (f'(case "{n}")' if t is None else f'(case "{n}" {_ctype(t, namer, "i")})' for n, t in ty.cases)
        return "(variant " + " ".join(cases) + ")"
    names = " ".join(f'"{n}"' for n in ty.names)
    return f"({'enum' if isinstance(ty, EnumT) else 'flags'} {names})"


def _functype(ft: FuncT, namer: _Namer, side: str) -> str:
    params = " ".join(f'(param "{n}" {_ctype(t, namer, side)})' for n, t in ft.params)
    result = "" if ft.result is None else f" (result {_ctype(ft.result, namer, side)})"
    return f"{params}{result}"


def _core_sig(params: Sequence[str], results: Sequence[str]) -> str:
    out = "".join(f" (param {p})" for p in params)
    return out + "".join(f" (result {r})" for r in results)


def component_text(ft: FuncT) -> str:
    """A component importing ``f`` of type ``ft`` and exporting ``run`` of the same type, forwarding to ``f``.

    Each named type is defined, imported under ``tN`` (``$tNi``) for the
    import's signature and exported as ``tN-out`` (``$tNo``) for the
    export's: a function's named types must be imported or exported types.
    """
    namer = _Namer(ft)
    out = ["(component"]
    for i, t in enumerate(namer.order):
        out.append(f"  (type $t{i} {_cdef(t, namer)})")
        out.append(f'  (import "t{i}" (type $t{i}i (eq $t{i})))')
    out.append(f'  (import "f" (func $f {_functype(ft, namer, "i")}))')
    for i in range(len(namer.order)):
        out.append(f'  (export $t{i}o "t{i}-out" (type $t{i}i))')
    out.append(CORE_MEMORY_MODULE)
    # Canonical options name the aliases above: wasmtime 45's text parser does not take the
    # inline `(memory (core memory $mi "memory"))` spelling that wasmtime 50 accepts.
    options = "(memory $memory) (realloc $realloc)"
    out.append(f"  (core func $lowered (canon lower (func $f) {options}))")
    lower_params, lower_results = flatten_functype(ft, "lower")
    lift_params, lift_results = flatten_functype(ft, "lift")
    retptr = len(lower_params) > len(lift_params)
    body = [f"(local.get {i})" for i in range(len(lift_params))]
    locals_ = ""
    if retptr:
        assert ft.result is not None
        locals_ = " (local $rp i32)"
        align, nbytes = alignment(ft.result), size(ft.result)
        area = f"(call $realloc (i32.const 0) (i32.const 0) (i32.const {align}) (i32.const {nbytes}))"
        body = [f"(local.set $rp {area})", *body, "(local.get $rp)", "(call $f)", "(local.get $rp)"]
    else:
        body.append("(call $f)")
    out.append(f"""  (core module $a
    (import "h" "f" (func $f{_core_sig(lower_params, lower_results)}))
    (import "h" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "h" "reset" (func $reset))
    (func (export "run"){_core_sig(lift_params, lift_results)}{locals_}
      {" ".join(body)})
    (func (export "post"){_core_sig(lift_results, [])} (call $reset)))
  (core instance $ai (instantiate $a (with "h" (instance
    (export "f" (func $lowered))
    (export "realloc" (func $realloc))
    (export "reset" (func $reset))))))""")
    out.append('  (alias core export $ai "post" (core func $post))')
    out.append(
        f"  (func $run {_functype(ft, namer, 'o')}\n"
        f'    (canon lift (core func $ai "run") {options} (post-return $post)))'
    )
    out.append('  (export "run" (func $run)))')
    return "\n".join(out)


# --------------------------------------------------------------------------
# Stock wasmtime-py's value conventions
# --------------------------------------------------------------------------

Record = wc_stock.Record
Variant = wc_stock.Variant


def stock_classes(ty: Type) -> frozenset[type]:
    """The Python classes stock uses for ``ty`` (``ValType.add_classes``)."""
    if isinstance(ty, Prim):
        if ty.name == "bool":
            return frozenset({bool})
        if ty.name in INTS:
            return frozenset({int})
        return frozenset({float}) if ty.name in ("f32", "f64") else frozenset({str})
    if isinstance(ty, ListT):
        return frozenset({bytes}) if ty.element == Prim("u8") else frozenset({list})
    if isinstance(ty, RecordT):
        return frozenset({Record})
    if isinstance(ty, TupleT):
        return frozenset({tuple})
    if isinstance(ty, EnumT):
        return frozenset({str})
    if isinstance(ty, FlagsT):
        return frozenset({set})
    if stock_tagged(ty):
        return frozenset({Variant})
    out: set[type] = set()
    for _, t in cases_of(ty):
        out |= {object} if t is None else stock_classes(t)
    return frozenset(out)


def stock_tagged(ty: Union[VariantT, OptionT, ResultT]) -> bool:
    """Whether stock represents this variant-like type's values as ``Variant`` (``VariantLikeType._tagged``)."""
    seen: set[type] = set()
    for _, t in cases_of(ty):
        case = {object} if t is None else set(stock_classes(t))
        if case & seen:
            return True
        seen |= case
    return False


def stock_ambiguous(ty: Type) -> bool:
    """Whether stock's untagged lowering can pick the wrong case for some value of ``ty`` (or a nested type).

    Untagged lowering takes the first case whose classes the value is an
    instance of; a later case's value is stolen by an earlier case when one
    of its classes is a subclass of the earlier case's (``bool`` of ``int``,
    anything of ``object``).
    """
    for t in walk(ty):
        if isinstance(t, (VariantT, OptionT, ResultT)) and not stock_tagged(t):
            payloads = [stock_classes(c) for _, c in cases_of(t) if c is not None]
            for i, earlier in enumerate(payloads):
                for later in payloads[i + 1 :]:
                    if any(issubclass(a, b) for a in later for b in earlier):
                        return True
    return False


# --------------------------------------------------------------------------
# Random values
# --------------------------------------------------------------------------

_CHAR_RANGES = ((0x20, 0x7E), (0x00, 0x1F), (0xA0, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF))


def random_char(rng: random.Random) -> str:
    """A Unicode scalar value (never a surrogate), mostly ASCII."""
    lo, hi = _CHAR_RANGES[0] if rng.random() < 0.6 else rng.choice(_CHAR_RANGES)
    return chr(rng.randint(lo, hi))


def random_int(rng: random.Random, name: str) -> int:
    """An int of WIT type ``name``, biased to the edges."""
    lo, hi = INTS[name]
    r = rng.random()
    if r < 0.3:
        return rng.choice((lo, hi, 0, 1, lo + 1, hi - 1, -1 if lo < 0 else 2))
    if r < 0.5:
        return rng.randint(max(lo, -100), min(hi, 100))
    return rng.randint(lo, hi)


def random_float(rng: random.Random, name: str) -> float:
    """A float of WIT type ``name`` (f32 values exactly representable in single precision): edges, NaN, random bits."""
    r = rng.random()
    if r < 0.3:
        v = rng.choice((0.0, -0.0, 1.0, -1.5, math.inf, -math.inf, math.nan, 0.1, 1e30, 5e-324))
    elif r < 0.6:
        v = rng.uniform(-1000.0, 1000.0)
    elif name == "f32":
        return float(struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0])
    else:
        return float(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
    if name == "f32":
        v = float(struct.unpack("<f", struct.pack("<f", v))[0]) if math.isfinite(v) and abs(v) < 3e38 else v
    return v


def random_value(rng: random.Random, ty: Type, depth: int = 0) -> Any:
    """A random value of ``ty`` in stock wasmtime-py's shape (see the module docstring)."""
    if isinstance(ty, Prim):
        n = ty.name
        if n == "bool":
            return rng.random() < 0.5
        if n in INTS:
            return random_int(rng, n)
        if n in ("f32", "f64"):
            return random_float(rng, n)
        if n == "char":
            return random_char(rng)
        # Now and then longer than the guest's first 64 KiB page: realloc grows memory.
        length = 20_000 if rng.random() < 0.01 else rng.choice((0, 1, 3, 5, 12, rng.randint(0, 40)))
        return "".join(random_char(rng) for _ in range(length))
    if isinstance(ty, ListT):
        if ty.element == Prim("u8"):
            return rng.randbytes(rng.choice((0, 1, 4, rng.randint(0, 64))))
        count = rng.choice((0, 1, 2, 3)) if depth < 2 else rng.choice((0, 1))
        return [random_value(rng, ty.element, depth + 1) for _ in range(count)]
    if isinstance(ty, RecordT):
        rec = Record()
        for name, t in ty.fields:
            setattr(rec, name, random_value(rng, t, depth + 1))
        return rec
    if isinstance(ty, TupleT):
        return tuple(random_value(rng, t, depth + 1) for t in ty.elements)
    if isinstance(ty, EnumT):
        return rng.choice(ty.names)
    if isinstance(ty, FlagsT):
        return {n for n in ty.names if rng.random() < 0.4}
    cases = cases_of(ty)
    if isinstance(ty, OptionT):
        tag, payload_ty = cases[1] if rng.random() < 0.7 else cases[0]
    else:
        tag, payload_ty = rng.choice(cases)
    payload = None if payload_ty is None else random_value(rng, payload_ty, depth + 1)
    return Variant(tag, payload) if stock_tagged(ty) else payload


# --------------------------------------------------------------------------
# Equality and display
# --------------------------------------------------------------------------


def values_equal(a: Any, b: Any) -> bool:
    """Strict structural equality: same Python types, NaN == NaN, -0.0 != 0.0, records by attributes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Record):
        va, vb = vars(a), vars(b)
        return va.keys() == vb.keys() and all(values_equal(va[k], vb[k]) for k in va)
    if isinstance(a, Variant):
        return a.tag == b.tag and values_equal(a.payload, b.payload)
    return bool(a == b)


def show(v: Any) -> str:
    """A readable, reproducible spelling of a stock-shaped value."""
    if isinstance(v, Record):
        return "Record(" + ", ".join(f"{k}={show(x)}" for k, x in vars(v).items()) + ")"
    if isinstance(v, Variant):
        return f"Variant({v.tag!r}" + ("" if v.payload is None else f", {show(v.payload)}") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(map(show, v)) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(show, v)) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, set):
        return "{" + ", ".join(map(repr, sorted(v))) + "}" if v else "set()"
    if isinstance(v, float):
        if math.isnan(v):
            return f"nan(0x{struct.unpack('<Q', struct.pack('<d', v))[0]:016x})"
        return repr(v)
    return repr(v)


# --------------------------------------------------------------------------
# Cases and the harness
# --------------------------------------------------------------------------


@dataclass
class Case:
    """One function type and ``calls`` sets of (arguments, host result)."""

    seed: int
    ft: FuncT
    calls: List[Tuple[Tuple[Any, ...], Any]]
    text: str = field(repr=False, default="")

    def describe(self, call: Optional[int] = None) -> str:
        """The seed, the WIT type and the values: enough to reproduce a failure."""
        lines = [f"case seed {self.seed} (python tests/component_gen.py {self.seed})", wit(self.ft)]
        for i, (args, result) in enumerate(self.calls):
            if call is None or call == i:
                lines.append(f"call {i}: args ({', '.join(map(show, args))}) host returns {show(result)}")
        return "\n".join(lines)


def make_case(seed: int, profile: Optional[Profile] = None, calls: int = 3) -> Case:
    """The case ``seed`` names: deterministic for a given seed and profile."""
    rng = random.Random(seed)
    ft = random_functype(rng, profile)
    samples = []
    for _ in range(calls):
        args = tuple(random_value(rng, t) for _, t in ft.params)
        result = None if ft.result is None else random_value(rng, ft.result)
        samples.append((args, result))
    return Case(seed, ft, samples, component_text(ft))


_ENGINE: Optional[wasmtime.Engine] = None
_COMPONENTS: Dict[str, wc_stock.Component] = {}
COMPONENT_CACHE = 512


def engine() -> wasmtime.Engine:
    """One engine for every case (made on first use, never at import: see conftest.py)."""
    global _ENGINE
    if _ENGINE is None:
        config = wasmtime.Config()
        config.cranelift_opt_level = "none"  # compile time dominates: the wasm only forwards
        _ENGINE = wasmtime.Engine(config)
    return _ENGINE


def compile_component(text: str) -> wc_stock.Component:
    """The component for ``text``; the last :data:`COMPONENT_CACHE` are kept (~70 KiB each).

    The CI profile runs the same cases on every mix: with them all cached,
    each is compiled once (~5 ms) rather than once per mix.
    """
    comp = _COMPONENTS.pop(text, None)
    if comp is None:
        comp = wc_stock.Component(engine(), text)
        while len(_COMPONENTS) >= COMPONENT_CACHE:
            del _COMPONENTS[next(iter(_COMPONENTS))]
    _COMPONENTS[text] = comp  # (re)inserted last: dicts keep insertion order, so this is an LRU
    return comp


def host_function(nparams: int, record: Callable[[Tuple[Any, ...]], Any]) -> Callable[..., Any]:
    """A plain function ``host(p0, ..., pN)`` (no annotations, exact arity) that returns ``record(args)``."""
    names = ", ".join(f"p{i}" for i in range(nparams))
    namespace: Dict[str, Any] = {"_record": record}
    exec(f"def host({names}):\n    return _record(({names}{',' if nparams == 1 else ''}))", namespace)
    return namespace["host"]  # type: ignore[no-any-return]


@dataclass
class Mismatch:
    """One disagreement: where, what was expected and what happened."""

    case: Case
    call: int
    mode: str  # "host=H call=C[ backend=B]"
    what: str

    def __str__(self) -> str:
        replay = " ".join(f"--{part.replace('=', ' ')}" for part in self.mode.split())
        return (
            f"{self.mode}: {self.what}\n{self.case.describe(self.call)}\n"
            f"replay: python tests/component_gen.py {self.case.seed} {replay}"
        )


def bind_run(text: str, fn: Callable[..., Any], host: str, caller: str, backend: Optional[str]) -> Callable[..., Any]:
    """Instantiate the component ``text`` with ``fn`` as ``f``; ``run`` as a callable taking the arguments.

    ``host`` and ``caller`` are ``"stock"`` (``LinkerInstance.add_func`` with
    the store dropped; ``Func.__call__`` with the store bound) or
    ``"wasmjit"`` (``wasmjit.component.define_callback`` /
    ``wasmjit.component.typed`` on ``backend``).
    """
    comp = compile_component(text)
    linker = wc_stock.Linker(engine())
    with linker.root() as root:
        if host == "stock":
            root.add_func("f", lambda _store, *args: fn(*args))
        else:
            import wasmjit.component as wc

            wc.define_callback(root, "f", fn, backend=backend)
    store = wasmtime.Store(engine())
    instance = linker.instantiate(store, comp)
    func = instance.get_func(store, "run")
    assert func is not None
    if caller == "stock":
        return lambda *args: func(store, *args)
    import wasmjit.component as wc

    return wc.typed(store, func, backend=backend)  # type: ignore[no-any-return]


def run_case(case: Case, host: str = "stock", caller: str = "stock", backend: Optional[str] = None) -> List[Mismatch]:
    """Run every call of ``case`` with the host side and the call side each ``"stock"`` or ``"wasmjit"``.

    Returns the mismatches (empty when the host saw exactly the arguments
    and ``run`` returned exactly the host's result, every call).
    """
    mode = f"host={host} call={caller}" + (f" backend={backend}" if backend else "")
    expected: List[Any] = [None]
    seen: List[Tuple[Any, ...]] = []

    def record(args: Tuple[Any, ...]) -> Any:
        seen.append(args)
        return expected[0]

    call = bind_run(case.text, host_function(len(case.ft.params), record), host, caller, backend)
    out = []
    for i, (args, result) in enumerate(case.calls):
        expected[0] = result
        del seen[:]
        try:
            got = call(*args)
        except Exception as e:  # any exception is a mismatch to report
            out.append(Mismatch(case, i, mode, f"run raised {type(e).__name__}: {e}"))
            break  # after a trap wasmtime refuses to enter the instance again

        if len(seen) != 1:
            out.append(Mismatch(case, i, mode, f"host called {len(seen)} times"))
        elif not values_equal(seen[0], args):
            out.append(Mismatch(case, i, mode, f"host saw ({', '.join(map(show, seen[0]))})"))
        if not values_equal(got, result):
            out.append(Mismatch(case, i, mode, f"run returned {show(got)}"))
    return out


def main(argv: Sequence[str]) -> int:
    """``python tests/component_gen.py [--text] [--host H] [--call C] [--backend B] SEED...``.

    Prints each case (its WIT type and values; with ``--text`` the component
    too) and runs it with the host side and the call side each ``stock``
    (the default) or ``wasmjit``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("seeds", nargs="+", type=int)
    parser.add_argument("--text", action="store_true", help="print the component text")
    parser.add_argument("--host", choices=("stock", "wasmjit"), default="stock")
    parser.add_argument("--call", choices=("stock", "wasmjit"), default="stock")
    parser.add_argument("--backend", choices=("bytecode", "source", "reflect"), default=None)
    ns = parser.parse_args(argv)
    failed = 0
    for seed in ns.seeds:
        case = make_case(seed)
        print(case.describe())
        if ns.text:
            print(case.text)
        for m in run_case(case, ns.host, ns.call, ns.backend):
            failed += 1
            print("MISMATCH", m.mode, m.what)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# --------------------------------------------------------------------------
# Component text both wasmtime 45 and 50 read
# --------------------------------------------------------------------------

_INLINE_EXPORT = re.compile(r'\((memory|realloc) \(core (memory|func) \$([\w.-]+) "([\w.-]+)"\)\)')


def _top_level(line: str) -> bool:
    return line.startswith("  (") and not line.startswith("   ")


def portable(text: str) -> str:
    """``text`` with canonical options that name inline core exports rewritten as aliases.

    wasmtime 50's text parser wants ``(memory (core memory $i "memory"))``;
    wasmtime 45's does not know that spelling.  Both read
    ``(alias core export $i "memory" (core memory $i.memory))`` followed by
    ``(memory $i.memory)``: each alias goes right before the top-level form
    (a line indented by two spaces) that first uses it.
    """
    defined: Set[str] = set()
    out: List[str] = []
    for line in text.split("\n"):
        found = _INLINE_EXPORT.findall(line)
        if found:
            start = len(out)
            if not _top_level(line):
                while start > 0 and not _top_level(out[start - 1]):
                    start -= 1
                start = max(start - 1, 0)
            aliases = []
            for _option, sort, instance, name in found:
                label = f"${instance}.{name}"
                if label not in defined:
                    defined.add(label)
                    aliases.append(f'  (alias core export ${instance} "{name}" (core {sort} {label}))')
            out[start:start] = aliases
            line = _INLINE_EXPORT.sub(lambda m: f"({m.group(1)} ${m.group(3)}.{m.group(4)})", line)
        out.append(line)
    return "\n".join(out)
