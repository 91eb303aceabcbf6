"""The plan: one backend-neutral description of a trampoline per signature.

A :class:`Plan` says, for one signature and one direction, everything a
trampoline does: where each value lives in the raw slots and as what
``struct`` code, which values need a conversion, whether the ``Caller`` is
wanted, how results are checked and stored, and what happens on failure.

Backends never decide any of that.  ``bytecode`` and ``source`` both render
the same small program, :meth:`Plan.program`, a list of statements in a tiny
IR defined below; ``reflect`` runs the plan's fields directly without
generating code.  The differential tests hold all three to the same answers.

Directions:

``callback`` (wasm -> host)
    ``trampoline(env, caller_ptr, raw, nraw)`` is called by wasmtime with the
    address ``raw`` of the slots.  It decodes the parameters, calls the
    bound ``callback``, and encodes the results over the parameters.  It
    returns ``None`` (no trap) or the address of a trap.

``call`` (host -> wasm)
    ``function(a0, a1, ...)`` encodes its arguments into the bound
    ``buffer``, calls ``wasmtime_func_call_unchecked``, and decodes the
    results from the same buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from . import ffi
from .signature import Signature
from .values import Kind

__all__ = ["Plan", "Program", "callback_plan", "call_plan"]

SLOT = ffi.SLOT_SIZE


def slot_format(codes: "Tuple[str, ...]", total_slots: int = 0, trailer: str = "") -> str:
    """A ``struct`` format placing each code at the start of its 16-byte slot.

    Little-endian: wasmtime stores ``wasmtime_val_raw_t`` values little-endian
    on every host.
    """
    parts = ["<"]
    for index, code in enumerate(codes):
        size = struct.calcsize("<" + code)
        parts.append(code)
        if index < len(codes) - 1 or trailer:
            parts.append(f"{SLOT - size}x")
    if trailer:
        used = len(codes) * SLOT
        if total_slots * SLOT > used:
            parts.append(f"{total_slots * SLOT - used}x")
        parts.append(trailer)
    return "".join(parts)


# The IR ---------------------------------------------------------------------
#
# Names are either locals (the trampoline's arguments and anything assigned)
# or constants bound when the trampoline is built: statics (the same for
# every trampoline of the plan) and per-binding values (the callback, the
# buffer, ...).  Backends load locals as locals and every other name as a
# constant.


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Literal:
    value: Optional[int]


@dataclass(frozen=True)
class Attr:
    value: "Expr"
    attr: str


@dataclass(frozen=True)
class Call:
    func: str
    args: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class MakeTuple:
    items: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class MakeList:
    items: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class NewList:
    pass


Expr = Union[Name, Literal, Attr, Call, MakeTuple, MakeList, NewList]


@dataclass(frozen=True)
class Assign:
    """``targets[0] = value``, or ``t0, t1, ... = value`` when ``unpack``."""

    targets: "Tuple[str, ...]"
    value: Expr
    unpack: bool = False


@dataclass(frozen=True)
class Do:
    """Evaluate ``value`` and discard it."""

    value: Expr


@dataclass(frozen=True)
class Compare:
    left: Expr
    op: str  # "is" or "is not"
    right: Expr


@dataclass(frozen=True)
class AnyOf:
    """True when any of the locals is truthy."""

    names: "Tuple[str, ...]"


Test = Union[Compare, AnyOf]


@dataclass(frozen=True)
class If:
    test: Test
    body: "Tuple[Stmt, ...]"


@dataclass(frozen=True)
class Raise:
    exception: str  # a constant: an exception class


@dataclass(frozen=True)
class Return:
    value: Optional[Expr]


@dataclass(frozen=True)
class Try:
    """``try: body`` / ``except BaseException [as name]: handler``.

    The handler either ends in ``Return`` or falls through to what follows.
    """

    body: "Tuple[Stmt, ...]"
    handler: "Tuple[Stmt, ...]"
    name: Optional[str] = None


Stmt = Union[Assign, Do, If, Raise, Return, Try]


@dataclass(frozen=True)
class Program:
    """What a generated trampoline does, statement by statement."""

    name: str
    arguments: "Tuple[str, ...]"
    """The trampoline's parameters; all positional-only."""
    body: "Tuple[Stmt, ...]"
    docstring: str

    def locals(self) -> "List[str]":
        seen: Dict[str, None] = dict.fromkeys(self.arguments)

        def visit(stmts: "Tuple[Stmt, ...]") -> None:
            for stmt in stmts:
                if isinstance(stmt, Assign):
                    seen.update(dict.fromkeys(stmt.targets))
                elif isinstance(stmt, If):
                    visit(stmt.body)
                elif isinstance(stmt, Try):
                    visit(stmt.body)
                    if stmt.name:
                        seen[stmt.name] = None
                    visit(stmt.handler)

        visit(self.body)
        return list(seen)


# The plan -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A trampoline for one signature in one direction."""

    direction: str  # "callback" or "call"
    signature: Signature
    #: ``"wasmjit"``: wasmjit's own value rules.  ``"wasmtime"``: wasmtime-py's
    #: (``install()``): only exact ``int``/``float`` objects take the fast
    #: path, everything else goes through ``wasmtime.Val`` conversion with
    #: wasmtime-py's errors, and several call results come back as a list.
    flavour: str = "wasmjit"
    #: Names bound per trampoline (the callable, the buffer, ...).
    bound: "Tuple[str, ...]" = field(compare=False, default=())

    # Layout ------------------------------------------------------------

    @property
    def params(self) -> "Tuple[Kind, ...]":
        return self.signature.params

    @property
    def results(self) -> "Tuple[Kind, ...]":
        return self.signature.results

    @property
    def slots(self) -> int:
        """Number of raw slots: parameters and results share them."""
        return max(len(self.params), len(self.results))

    @property
    def needs_context(self) -> bool:
        return any(kind.needs_context for kind in self.params + self.results)

    @property
    def keeps_refs(self) -> bool:
        """Whether encoding creates externrefs that stay rooted until wasm has them."""
        encoded = self.results if self.direction == "callback" else self.params
        return Kind.EXTERNREF in encoded

    @property
    def decoded(self) -> "Tuple[Kind, ...]":
        """Kinds read from the slots (parameters of a callback, results of a call)."""
        return self.params if self.direction == "callback" else self.results

    @property
    def encoded(self) -> "Tuple[Kind, ...]":
        """Kinds written to the slots (results of a callback, arguments of a call)."""
        return self.results if self.direction == "callback" else self.params

    @property
    def decode_format(self) -> str:
        codes = tuple(kind.read_format for kind in self.decoded)
        if self.direction == "call":
            # The trap cell sits after the slots; see TypedFunc.
            return slot_format(codes, self.slots, trailer="Q")
        return slot_format(codes)

    @property
    def encode_format(self) -> str:
        return slot_format(tuple(kind.write_format for kind in self.encoded))

    @property
    def exact_format(self) -> str:
        return slot_format(tuple(kind.exact_format for kind in self.encoded))

    @property
    def decoders(self) -> "Tuple[Tuple[int, str], ...]":
        return tuple((i, k.decoder) for i, k in enumerate(self.decoded) if k.decoder)

    @property
    def encoders(self) -> "Tuple[Tuple[int, str], ...]":
        return tuple((i, k.encoder) for i, k in enumerate(self.encoded) if k.encoder)

    @property
    def class_checks(self) -> "Tuple[Tuple[int, str], ...]":
        """Encoded values that must be exactly of a class to take the fast path."""
        if self.flavour != "wasmtime":
            return ()
        classes = {Kind.I32: "int", Kind.I64: "int", Kind.F32: "float", Kind.F64: "float"}
        return tuple((i, classes[k]) for i, k in enumerate(self.encoded) if k in classes)

    @property
    def results_as_list(self) -> bool:
        """Whether a call returns several results as a list (wasmtime-py's way)."""
        return self.flavour == "wasmtime" and len(self.results) > 1

    @property
    def name(self) -> str:
        def part(kinds: "Tuple[Kind, ...]") -> str:
            return "_".join(k.label for k in kinds) or "none"

        caller = "caller_" if self.signature.wants_caller else ""
        shape = "_tuple" if self.signature.results_as_tuple and len(self.results) == 1 else ""
        flavour = "" if self.flavour == "wasmjit" else f"_{self.flavour}"
        return f"{self.direction}{flavour}_{caller}{part(self.params)}__{part(self.results)}{shape}"

    def describe(self) -> str:
        """A readable listing of the plan (what ``explain`` shows for reflect)."""
        lines = [f"plan {self.name}: {self.direction} {self.signature}"]
        verb = "decode" if self.direction == "callback" else "encode"
        lines.append(f"  slots: {self.slots} x {SLOT} bytes")
        if self.direction == "callback":
            lines.append(f"  {verb} parameters with struct {self.decode_format!r}")
            lines.append(f"  store results with struct {self.encode_format!r} (exact path {self.exact_format!r})")
        else:
            lines.append(f"  encode arguments with struct {self.encode_format!r} (exact path {self.exact_format!r})")
            lines.append(f"  decode results and trap cell with struct {self.decode_format!r}")
        for index, name in self.decoders:
            lines.append(f"  decoded value {index}: {name}")
        for index, name in self.encoders:
            lines.append(f"  encoded value {index}: {name}")
        if self.signature.wants_caller:
            lines.append("  passes a Caller, invalidated when the callback returns")
        if self.needs_context:
            lines.append("  needs the store context for reference values")
        if self.keeps_refs:
            lines.append("  keeps created externrefs rooted until wasm has received them")
        for index, cls in self.class_checks:
            lines.append(f"  value {index} takes the fast path only as an exact {cls}")
        if self.flavour == "wasmtime":
            lines.append("  wasmtime-py's rules: exact path through wasmtime.Val, wasmtime-py's errors")
        return "\n".join(lines)

    # The program ---------------------------------------------------------

    def program(self) -> Program:
        """The statements ``bytecode`` and ``source`` both render."""
        if self.direction == "callback":
            return self._callback_program()
        return self._call_program()

    def _callback_program(self) -> Program:
        sig = self.signature
        n = len(self.params)
        params = tuple(f"p{i}" for i in range(n))
        # The interrupt point: an interrupt that arrived before the try is
        # raised here, inside it (see wasmjit.interrupts).
        body: List[Stmt] = [
            If(
                Compare(Attr(Name("interrupts"), "pending"), "is", Literal(True)),
                (Do(Call("raise_interrupt", ())),),
            )
        ]
        # Nothing before the try calls a function: a call there could raise
        # (an interrupt) where only ctypes would see it.
        prologue: List[Stmt] = [Assign(("result",), Name("MISSING"))]
        if sig.wants_caller:
            prologue.append(Assign(("caller",), Literal(None)))
            body.append(Assign(("caller",), Call("Caller", (Name("caller_ptr"),))))
        if self.keeps_refs:
            prologue.append(Assign(("keep",), NewList()))
        if self.needs_context:
            body.append(Assign(("ctx",), Call("caller_context", (Name("caller_ptr"),))))
        if n:
            body.append(Assign(params, Call("decode", (Name("MEMORY"), Name("raw"))), unpack=True))
        for index, conv in self.decoders:
            body.append(Assign((params[index],), Call(conv, (Name("ctx"), Name(params[index])))))
        call_args = ((Name("caller"),) if sig.wants_caller else ()) + tuple(Name(p) for p in params)
        body.append(Assign(("result",), Call("callback", call_args)))
        if sig.wants_caller:
            body.append(Do(Call("invalidate", (Name("caller"),))))
        results: "Tuple[Expr, ...]" = ()
        if not self.results:
            body.append(If(Compare(Name("result"), "is not", Literal(None)), (Raise("ExactPath"),)))
        elif sig.results_as_tuple:
            names = tuple(f"r{i}" for i in range(len(self.results)))
            body.append(
                If(
                    Compare(Attr(Name("result"), "__class__"), "is not", Name("tuple")),
                    (Raise("ExactPath"),),
                )
            )
            body.append(Assign(names, Name("result"), unpack=True))
            results = tuple(Name(r) for r in names)
        else:
            results = (Name("result"),)
        for index, cls in self.class_checks:
            body.append(_class_check(results[index], cls))
        keep: Expr = Name("keep") if self.keeps_refs else Literal(None)
        encoded = list(results)
        for index, conv in self.encoders:
            target = f"e{index}"
            context: Expr = Name("ctx") if self.needs_context else Literal(None)
            body.append(Assign((target,), Call(conv, (context, encoded[index], keep))))
            encoded[index] = Name(target)
        if results:
            body.append(Do(Call("encode", (Name("MEMORY"), Name("raw"), *tuple(encoded)))))
        if self.keeps_refs:
            body.append(Do(Call("release", (Name("keep"),))))
        handler = (
            Return(
                Call(
                    "fail",
                    (
                        Name("exc"),
                        Name("result"),
                        Name("raw"),
                        Name("caller_ptr"),
                        Name("caller") if sig.wants_caller else Literal(None),
                        keep,
                    ),
                )
            ),
        )
        statements = (*tuple(prologue), Try(tuple(body), handler, "exc"))
        doc = f"wasm -> host trampoline for {sig} (generated by wasmjit)"
        return Program(self.name, ("env", "caller_ptr", "raw", "nraw"), statements, doc)

    def _call_program(self) -> Program:
        sig = self.signature
        args = tuple(f"a{i}" for i in range(len(self.params)))
        body: List[Stmt] = []
        if self.keeps_refs:
            body.append(Assign(("keep",), NewList()))
        keep: Expr = Name("keep") if self.keeps_refs else Literal(None)
        body.append(
            If(
                Compare(Attr(Name("store"), "_Store__context"), "is", Literal(None)),
                (Do(Call("closed_store", ())),),
            )
        )
        if args:
            encoded: List[Expr] = [Name(a) for a in args]
            encode_body: List[Stmt] = [_class_check(Name(args[i]), cls) for i, cls in self.class_checks]
            for index, conv in self.encoders:
                target = f"x{index}"
                encode_body.append(Assign((target,), Call(conv, (Name("context"), encoded[index], keep))))
                encoded[index] = Name(target)
            encode_body.append(Do(Call("encode", (Name("buffer"), Literal(0), *tuple(encoded)))))
            exact = (Do(Call("encode_exact", (Name("exc"), keep, *tuple(Name(a) for a in args)))),)
            body.append(Try(tuple(encode_body), exact, "exc"))
        body.append(
            Assign(
                ("err",),
                Call(
                    "call_unchecked",
                    (Name("context"), Name("func"), Name("buffer_address"), Name("nslots"), Name("trap_address")),
                ),
            )
        )
        results = tuple(f"r{i}" for i in range(len(self.results)))
        body.append(Assign((*results, "trap"), Call("decode", (Name("buffer"),)), unpack=True))
        if self.keeps_refs:
            body.append(Do(Call("release", (Name("keep"),))))
        body.append(If(AnyOf(("err", "trap")), (Do(Call("fail", (Name("err"), Name("trap")))),)))
        values: List[Expr] = [Name(r) for r in results]
        for index, conv in self.decoders:
            body.append(Assign((results[index],), Call(conv, (Name("context"), Name(results[index])))))
        if not results:
            body.append(Return(None))
        elif len(results) == 1 and not sig.results_as_tuple:
            body.append(Return(values[0]))
        elif self.results_as_list:
            body.append(Return(MakeList(tuple(values))))
        else:
            body.append(Return(MakeTuple(tuple(values))))
        doc = f"host -> wasm call of {sig} (generated by wasmjit)"
        return Program(self.name, args, tuple(body), doc)


def _class_check(value: Expr, cls: str) -> Stmt:
    """``if value.__class__ is not cls: raise ExactPath``."""
    return If(Compare(Attr(value, "__class__"), "is not", Name(cls)), (Raise("ExactPath"),))


def callback_plan(signature: Signature, flavour: str = "wasmjit") -> Plan:
    return Plan("callback", signature, flavour, ("callback", "fail"))


def call_plan(signature: Signature, flavour: str = "wasmjit") -> Plan:
    if signature.wants_caller:
        raise ValueError("a typed call has no caller")
    return Plan(
        "call",
        signature,
        flavour,
        ("store", "buffer", "context", "func", "buffer_address", "nslots", "trap_address", "fail", "encode_exact"),
    )
