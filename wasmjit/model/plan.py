"""The plan: one backend-neutral description of a trampoline per signature.

A :class:`Plan` says, for one signature and one direction, everything a
trampoline does: where each value lives in the raw slots and as what
``struct`` code, which values need a conversion, whether the ``Caller`` is
wanted, how results are checked and stored, which values are bound into each
trampoline, and what happens on failure.

Backends never decide any of that.  ``bytecode`` and ``source`` render the
program :meth:`Plan.program` lowers the plan to (see :mod:`.ir`); ``reflect``
does what the same program describes without generating code.  The tests
run every backend and a reference interpreter of the program side by side.

Directions:

``Direction.CALLBACK`` (wasm -> host)
    ``trampoline(env, caller_ptr, raw, nraw)`` is called by wasmtime with the
    address ``raw`` of the slots.  It decodes the parameters, calls the
    bound ``callback``, and encodes the results over the parameters.  It
    returns ``None`` (no trap) or the address of a trap.

``Direction.CALL`` (host -> wasm)
    ``function(a0, a1, ...)`` encodes its arguments into the bound
    ``buffer``, calls ``wasmtime_func_call_unchecked``, and decodes the
    results and the trap cell from the same buffer.
"""

from __future__ import annotations

import enum
import functools
import struct
from dataclasses import dataclass
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Type, Union

from ..boundary import wasmtime_py
from ..boundary.ffi import SLOT_SIZE
from .ir import (
    AnyOf,
    Do,
    Expr,
    Literal,
    MakeList,
    MakeTuple,
    Name,
    NewList,
    Program,
    Raise,
    Return,
    Stmt,
    assign,
    attr,
    call,
    do,
    if_,
    is_,
    is_not,
    lt,
    return_,
    set_attr,
    set_item,
    try_,
    unpack,
)
from .kinds import GuestValue, Kind
from .signature import Signature, Value

__all__ = [
    "Plan",
    "Direction",
    "Flavour",
    "CallbackBindings",
    "CallBindings",
    "callback_plan",
    "guardable",
    "call_plan",
    "TRAP_CELL_FORMAT",
]


class Direction(enum.Enum):
    CALLBACK = "callback"
    """wasm -> host: a host function's trampoline."""
    CALL = "call"
    """host -> wasm: a typed caller of a wasm function."""


class Flavour(enum.Enum):
    WASMJIT = "wasmjit"
    """wasmjit's own value rules."""
    WASMTIME = "wasmtime"
    """wasmtime-py's rules (``install()``): only values of exactly the kind's
    Python class take the fast path, everything else goes through
    ``wasmtime.Val`` conversion with wasmtime-py's errors, and several call
    results come back as a list."""


class CallbackBindings(NamedTuple):
    """The values bound into one callback trampoline."""

    callback: Callable[..., Any]
    """The host callable wasm calls."""
    fail: Callable[..., Optional[int]]
    """Its failure path (:class:`wasmjit.boundary.failures.CallbackFailure`)."""


class CallBindings(NamedTuple):
    """The values bound into one typed caller.

    The call's arguments are pre-built ctypes objects: ctypes passes them
    through unconverted (see ``ffi.func_call_unchecked_prebuilt``).
    """

    store: Any
    """The ``wasmtime.Store``, checked for being closed on every call."""
    buffer: Any
    """The argument/result buffer (:attr:`Plan.buffer_size` bytes)."""
    context: Any
    """``c_void_p`` of the store's context."""
    func: Any
    """``c_void_p`` of a private copy of the ``wasmtime_func_t``."""
    buffer_address: Any
    """``c_void_p`` of the buffer."""
    nslots: Any
    """``c_size_t`` of :attr:`Plan.slots`."""
    trap_address: Any
    """``c_void_p`` of the trap cell at :attr:`Plan.trap_offset`."""
    fail: Callable[..., None]
    """Raises what a failed call produced."""
    encode_exact: Callable[..., None]
    """Validates and encodes arguments the fast path refused."""
    too_many: Callable[..., None]
    """Raises the ``TypeError`` for surplus arguments."""
    guard: Any
    """``guard.busy`` is true while a call through this buffer is under way."""
    nested: Callable[..., Any]
    """Makes a call that finds the buffer busy (re-entered from a callback, or
    from another thread) through a sibling caller with a buffer of its own."""
    interrupted: Callable[..., None]
    """Re-raises an interrupt that arrived during the call into wasm, after
    clearing the guard and any trap the call left in the trap cell."""
    guests: Any = None
    """The instance's memory and allocator for guest data
    (:class:`wasmjit.boundary.guest.GuestAccess`); ``None`` without guest data."""
    trap_cell: Any = None
    """The trap cell as a one-element ctypes ``c_uint64`` array over the
    buffer: a failed call clears it with an item store, no Python call."""


#: ``struct`` code of the trap cell after a call's slots: a ``wasm_trap_t *``.
TRAP_CELL_FORMAT = "Q"


def _slots_format(codes: "Tuple[str, ...]", trailer: Optional[Tuple[int, str]] = None) -> str:
    """A little-endian ``struct`` format placing ``codes[i]`` at :func:`slot offset <Plan.slot_offset>` ``i``.

    ``trailer`` places one more code at a byte offset after them.  (wasmtime
    stores ``wasmtime_val_raw_t`` values little-endian on every host.)
    """
    parts = ["<"]
    position = 0
    placements = [(index * SLOT_SIZE, code) for index, code in enumerate(codes)]
    if trailer is not None:
        placements.append(trailer)
    for offset, code in placements:
        if offset > position:
            parts.append(f"{offset - position}x")
        parts.append(code)
        position = offset + struct.calcsize("<" + code)
    return "".join(parts)


@dataclass(frozen=True)
class Plan:
    """A trampoline for one signature in one direction."""

    direction: Direction
    signature: Signature
    flavour: Flavour = Flavour.WASMJIT
    guarded: bool = False
    """A callback behind the wasm guard (see :mod:`wasmjit.boundary.guard`).

    Its raw host function has one more slot, the *flag*, shared by a last
    parameter and a last result: ``(P..., pad..., i32 flag) -> (R..., pad...,
    i32 flag)``.  A per-signature shim calls it with flag 0 and traps unless
    the flag came back non-zero.  The trampoline sets the flag last, with a
    one-byte store and no call; every failure path parks its exception and
    leaves the flag at 0, and the ctypes thunk returns ``void``.  So a
    trampoline that could not start (its frame refused at the recursion
    limit, a tracer raising on its entry) makes wasm trap instead of reading
    the parameters as results."""

    # What is bound ---------------------------------------------------------

    @property
    def bindings(self) -> "Type[Union[CallbackBindings, CallBindings]]":
        """The structure of the values bound into each trampoline of this plan."""
        return CallbackBindings if self.direction is Direction.CALLBACK else CallBindings

    @property
    def bound(self) -> "Tuple[str, ...]":
        """The names of the bound values (the fields of :attr:`bindings`)."""
        return self.bindings._fields

    # Layout ------------------------------------------------------------

    @property
    def params(self) -> "Tuple[Kind, ...]":
        return self.signature.params

    @property
    def results(self) -> "Tuple[Kind, ...]":
        return self.signature.results

    @property
    def slots(self) -> int:
        """Number of raw slots: parameters and results share them (and a guarded callback's flag)."""
        shared = max(len(self.params), len(self.results))
        return shared + 1 if self.guarded else shared

    @property
    def flag_index(self) -> int:
        """A guarded callback's flag slot: after every parameter and result."""
        assert self.guarded
        return max(len(self.params), len(self.results))

    @property
    def flag_offset(self) -> int:
        """Byte offset of a guarded callback's flag (its low byte: the slots are little-endian)."""
        return self.slot_offset(self.flag_index)

    @functools.cached_property
    def host_kinds(self) -> "Tuple[Tuple[Kind, ...], Tuple[Kind, ...]]":
        """The wasm parameter and result kinds of the raw host function wasmtime calls.

        Unguarded: the signature's.  Guarded: padded with ``i32`` to the flag
        slot, then the ``i32`` flag, for parameters and results alike.
        """
        if not self.guarded:
            return self.params, self.results
        flag = self.flag_index
        return (
            self.params + (Kind.I32,) * (flag - len(self.params) + 1),
            self.results + (Kind.I32,) * (flag - len(self.results) + 1),
        )

    @staticmethod
    def slot_offset(index: int) -> int:
        """Byte offset of slot ``index`` (parameter or result ``index``)."""
        return index * SLOT_SIZE

    @property
    def trap_offset(self) -> int:
        """Byte offset of a call's trap cell, right after the slots."""
        return self.slot_offset(self.slots)

    @property
    def buffer_size(self) -> int:
        """Bytes of a typed call's buffer: the slots and the trap cell."""
        return self.trap_offset + struct.calcsize("<" + TRAP_CELL_FORMAT)

    @property
    def needs_context(self) -> bool:
        return any(kind.needs_context for kind in self.params + self.results)

    @property
    def decoded(self) -> "Tuple[Kind, ...]":
        """Kinds read from the slots (parameters of a callback, results of a call)."""
        return self.params if self.direction is Direction.CALLBACK else self.results

    @property
    def encoded(self) -> "Tuple[Kind, ...]":
        """Kinds written to the slots (results of a callback, arguments of a call)."""
        return self.results if self.direction is Direction.CALLBACK else self.params

    @property
    def keeps_refs(self) -> bool:
        """Whether encoding creates externrefs that stay rooted until wasm has them."""
        return Kind.EXTERNREF in self.encoded

    @property
    def decoded_guests(self) -> "Tuple[Tuple[int, GuestValue], ...]":
        """Guest data among the decoded values (by the index of its address)."""
        sig = self.signature
        return sig.param_guests if self.direction is Direction.CALLBACK else sig.result_guests

    @property
    def encoded_guests(self) -> "Tuple[Tuple[int, GuestValue], ...]":
        """Guest data among the encoded values (by the index of its address)."""
        sig = self.signature
        return sig.result_guests if self.direction is Direction.CALLBACK else sig.param_guests

    @staticmethod
    def _codes(kinds: "Tuple[Kind, ...]", guests: "Tuple[Tuple[int, GuestValue], ...]", code: str) -> "Tuple[str, ...]":
        """The ``struct`` code of each slot: the kind's ``code`` attribute; an
        address or length of guest data is unsigned (its exact code)."""
        codes = [getattr(kind, code) for kind in kinds]
        for index, _ in guests:
            codes[index] = kinds[index].exact_format
            codes[index + 1] = kinds[index + 1].exact_format
        return tuple(codes)

    @functools.cached_property
    def decode_format(self) -> str:
        codes = self._codes(self.decoded, self.decoded_guests, "read_format")
        if self.direction is Direction.CALL:
            return _slots_format(codes, (self.trap_offset, TRAP_CELL_FORMAT))
        return _slots_format(codes)

    @functools.cached_property
    def encode_format(self) -> str:
        return _slots_format(self._codes(self.encoded, self.encoded_guests, "write_format"))

    @functools.cached_property
    def exact_format(self) -> str:
        return _slots_format(self._codes(self.encoded, self.encoded_guests, "exact_format"))

    @property
    def decoders(self) -> "Tuple[Tuple[int, str], ...]":
        return tuple((i, k.decoder) for i, k in enumerate(self.decoded) if k.decoder)

    @property
    def encoders(self) -> "Tuple[Tuple[int, str], ...]":
        return tuple((i, k.encoder) for i, k in enumerate(self.encoded) if k.encoder)

    @property
    def class_checks(self) -> "Tuple[Tuple[int, type], ...]":
        """Encoded values that must be exactly of their kind's Python class to take the fast path."""
        if self.flavour is not Flavour.WASMTIME:
            return ()
        return tuple((i, k.python_class) for i, k in enumerate(self.encoded) if k.python_class is not None)

    @property
    def results_as_list(self) -> bool:
        """Whether a call returns several results as a list (wasmtime-py's way)."""
        return self.flavour is Flavour.WASMTIME and len(self.results) > 1

    @functools.cached_property
    def name(self) -> str:
        def part(values: "Tuple[Tuple[int, Value], ...]") -> str:
            return "_".join(v.label for _, v in values) or "none"

        sig = self.signature
        caller = "caller_" if sig.wants_caller else ""
        shape = "_tuple" if sig.results_as_tuple and len(sig.result_values) == 1 else ""
        flavour = "" if self.flavour is Flavour.WASMJIT else f"_{self.flavour.value}"
        params, results = part(sig.param_values), part(sig.result_values)
        guarded = "_guarded" if self.guarded else ""
        return f"{self.direction.value}{flavour}_{caller}{params}__{results}{shape}{guarded}"

    def describe(self) -> str:
        """A readable listing of the plan (what ``explain`` shows for reflect)."""
        lines = [f"plan {self.name}: {self.direction.value} {self.signature}"]
        lines.append(f"  slots: {self.slots} x {SLOT_SIZE} bytes")
        if self.direction is Direction.CALLBACK:
            lines.append(f"  decode parameters with struct {self.decode_format!r}")
            lines.append(f"  store results with struct {self.encode_format!r} (exact path {self.exact_format!r})")
        else:
            lines.append(f"  encode arguments with struct {self.encode_format!r} (exact path {self.exact_format!r})")
            lines.append(f"  decode results and trap cell with struct {self.decode_format!r}")
        callback = self.direction is Direction.CALLBACK
        for role, guests, incoming in (
            ("parameter", self.signature.param_guests, callback),
            ("result", self.signature.result_guests, not callback),
        ):
            for index, value in guests:
                g = value.guest
                if incoming:
                    where = "read from the calling instance's" if callback else "read from the"
                else:
                    where = f"copied through {g.alloc!r} into the" + (" calling instance's" if callback else "")
                freed = ""
                if g.free and not callback:
                    freed = f", freed {'once read' if incoming else 'after the call'} through {g.free!r}"
                lines.append(f"  {role} {value} at slots {index}-{index + 1}: {where} memory {g.memory!r}{freed}")
        for index, name in self.decoders:
            lines.append(f"  decoded value {index}: {name}")
        for index, name in self.encoders:
            lines.append(f"  encoded value {index}: {name}")
        if self.direction is Direction.CALLBACK:
            lines.append(
                "  the try covers the trampoline's entry and (CPython 3.12+) its return: "
                "a hook raising there crosses wasm as itself"
            )
        if self.guarded:
            kinds = ", ".join(k.label for k in self.host_kinds[0]), ", ".join(k.label for k in self.host_kinds[1])
            lines.append(
                f"  guarded: raw host type ({kinds[0]}) -> ({kinds[1]}) behind the guard shim; "
                f"flag in slot {self.flag_index} (byte offset {self.flag_offset}), set to 1 last, "
                "0 on every failure path (the shim traps)"
            )
        if self.signature.wants_caller:
            lines.append("  passes a Caller, invalidated when the callback returns")
        if self.needs_context:
            lines.append("  needs the store context for reference values")
        if self.keeps_refs:
            lines.append("  keeps created externrefs rooted until wasm has received them")
        for index, cls in self.class_checks:
            lines.append(f"  value {index} takes the fast path only as an exact {cls.__name__}")
        if self.flavour is Flavour.WASMTIME:
            lines.append("  wasmtime-py's rules: exact path through wasmtime.Val, wasmtime-py's errors")
        if self.direction is Direction.CALL:
            lines.append("  a call that finds the buffer busy (re-entered, or another thread) uses a sibling's buffer")
            lines.append("  a failed call clears the trap cell and raises a parked exception before any call")
            lines.append(
                "  once an unguarded host callback exists, refuses to enter wasm without room for one "
                "(RecursionError)"
            )
        lines.append(f"  binds: {', '.join(self.bound)}")
        return "\n".join(lines)

    # The program ---------------------------------------------------------

    def program(self) -> Program:
        """The statements every backend carries out."""
        if self.direction is Direction.CALLBACK:
            return self._callback_program()
        return self._call_program()

    def _callback_program(self) -> Program:
        sig = self.signature
        params = tuple(f"p{i}" for i in range(len(self.params)))
        caller = "caller" if sig.wants_caller else None
        keep = "keep" if self.keeps_refs else None
        # Nothing runs before the try: the try covers the frame's entry
        # (``try_covers_entry``), so what the handler reads is bound before
        # the first instruction, as parameter defaults.
        defaults: "List[Tuple[str, Expr]]" = [("result", Name("MISSING"))]
        if caller:
            defaults.append(("caller", Literal(None)))
        if keep:
            defaults.append(("keep", Literal(None)))
        # Guest data copied out by the fast path: the exact path must not allocate it again.
        written = "written" if sig.result_guests else None
        if written:
            defaults.append((written, Literal(None)))
        body: List[Stmt] = [assign("keep", NewList())] if keep else []
        # The interrupt point: an interrupt that arrived before the try is
        # raised here, inside it (see wasmjit.boundary.interrupts).
        body.append(if_(is_(attr("interrupts", "pending"), True), do("raise_interrupt")))
        if caller:
            body.append(assign("caller", call("Caller", "caller_ptr")))
        if self.needs_context:
            body.append(assign("ctx", call("caller_context", "caller_ptr")))
        if params:
            body.append(unpack(params, call("decode", "MEMORY", "raw")))
        for index, conv in self.decoders:
            body.append(assign(params[index], call(conv, "ctx", params[index])))
        # Guest data is read from the calling instance's memory.
        arguments: List[Expr] = []
        for index, value in sig.param_values:
            if isinstance(value, GuestValue):
                target = f"v{index}"
                body.append(assign(target, call(guest_reader(index), "caller_ptr", *params[index : index + 2])))
                arguments.append(Name(target))
            else:
                arguments.append(Name(params[index]))
        body.append(assign("result", call("callback", *((caller,) if caller else ()), *arguments)))
        if caller:
            body.append(do("invalidate", caller))
        values: "Tuple[Expr, ...]" = ()
        if not self.results:
            body.append(if_(is_not("result", None), Raise("ExactPath")))
        elif sig.results_as_tuple:
            names = tuple(f"r{i}" for i in range(len(sig.result_values)))
            body.append(if_(is_not(attr("result", "__class__"), "tuple"), Raise("ExactPath")))
            body.append(unpack(names, "result"))
            values = tuple(Name(r) for r in names)
        else:
            values = (Name("result"),)
        # The slots' values: guest data is copied into the calling instance's
        # memory through its allocator, and stands for its address and length.
        encoded: List[Expr] = []
        copied: List[Expr] = []
        for value_expr, (index, value) in zip(values, sig.result_values, strict=True):
            if isinstance(value, GuestValue):
                pair = (f"g{index}", f"g{index + 1}")
                body.append(unpack(pair, call(guest_writer(index), "caller_ptr", value_expr)))
                encoded.extend(Name(n) for n in pair)
                copied.extend(Name(n) for n in pair)
            else:
                encoded.append(value_expr)
        if written:
            body.append(assign(written, MakeTuple(tuple(copied))))
        body.extend(_class_check(encoded[index], cls) for index, cls in self.class_checks)
        for index, conv in self.encoders:
            body.append(assign(f"e{index}", call(conv, "ctx" if self.needs_context else None, encoded[index], keep)))
            encoded[index] = Name(f"e{index}")
        if encoded:
            body.append(do("encode", "MEMORY", "raw", *encoded))
        if keep:
            body.append(do("release", keep))
        # Every result is stored: an exception from here on (a hook raising
        # at the 'return' event) crosses wasm, never takes the exact path.
        body.append(assign("result", "DONE"))
        failing = assign(
            "ret", call("fail", "exc", "result", "raw", "caller_ptr", caller, keep, *((written,) if written else ()))
        )
        handler: "List[Stmt]" = [failing]
        # After the handler the trampoline returns through a second try, whose
        # ``return`` is covered like the first one's: a hook raising at that
        # 'return' event (3.12+) parks its own exception, which then crosses
        # wasm (a trap that is already made is returned; the exact path's
        # success makes one).  ``fail`` already released ``keep`` and
        # invalidated the caller: not again.
        late: "List[Stmt]" = [set_attr("PENDING", "exception", "exc")]
        if self.guarded:
            # The flag, last: one byte store through a view of memory shifted
            # by the flag's offset (no call between it and the return).
            body.append(set_item("FLAGVIEW", "raw", 1))
            # The handler clears the flag (a hook may raise at the 'return'
            # event, after it was set) and parks the exception before
            # anything is called: if ``fail`` cannot run (no room left at the
            # recursion limit), the flag is 0, the shim traps, and the entry
            # raises what is parked.
            handler = [set_item("FLAGVIEW", "raw", 0), set_attr("PENDING", "exception", "exc"), failing]
            late.insert(0, set_item("FLAGVIEW", "raw", 0))
        else:
            late.append(if_(is_("ret", None), return_(call("fail", "exc", "DONE", "raw", "caller_ptr", None, None))))
        late.append(return_("ret"))
        body.append(return_())
        return Program(
            self.name,
            ("env", "caller_ptr", "raw", "nraw"),
            (try_(body, tuple(handler), "exc"), try_([return_("ret")], tuple(late), "exc")),
            f"wasm -> host trampoline for {sig} (generated by wasmjit)",
            entry_checks_signals=False,
            defaults=tuple(defaults),
            try_covers_entry=True,
        )

    def _call_program(self) -> Program:
        sig = self.signature
        args = tuple(f"a{i}" for i in range(len(sig.param_values)))
        keep = "keep" if self.keeps_refs else None
        body: List[Stmt] = [if_(AnyOf(("extra",)), do("too_many", MakeTuple(tuple(Name(a) for a in args)), "extra"))]
        if keep:
            body.append(assign("keep", NewList()))
        body.append(if_(is_(attr("store", wasmtime_py.STORE_CONTEXT_ATTRIBUTE), None), do("closed_store")))
        # Room for an unguarded host callback below this call (see wasmjit.boundary.headroom).
        body.append(room_check())
        # Nothing between the test and the assignment can switch threads.
        body.append(if_(is_(attr("guard", "busy"), True), return_(call("nested", *args))))
        body.append(set_attr("guard", "busy", True))
        # Every handler below frees the buffer first, without a call: at the
        # recursion limit the call after it may not start, and a buffer left
        # busy would refuse every later call.
        not_busy = set_attr("guard", "busy", False)
        # Guest data is copied into the instance's memory through its
        # allocator, and stands for its address and length.
        flat: List[str] = []
        writes: List[Stmt] = []
        for arg, (index, value) in zip(args, sig.param_values, strict=True):
            if isinstance(value, GuestValue):
                pair = (f"m{index}", f"m{index + 1}")
                writes.append(unpack(pair, call(guest_writer(index), "guests", arg)))
                flat.extend(pair)
            else:
                flat.append(arg)
        if writes:
            body.append(try_(writes, (not_busy, do("interrupted", "exc", keep)), "exc"))
        if flat:
            encode: List[Stmt] = [_class_check(Name(flat[i]), cls) for i, cls in self.class_checks]
            encoded: List[Expr] = [Name(a) for a in flat]
            for index, conv in self.encoders:
                encode.append(assign(f"x{index}", call(conv, "context", encoded[index], keep)))
                encoded[index] = Name(f"x{index}")
            encode.append(do("encode", "buffer", 0, *encoded))
            # (busy again only once the exact path has encoded every argument)
            exact = do("encode_exact", "exc", keep, *flat)
            body.append(try_(encode, (not_busy, exact, set_attr("guard", "busy", True)), "exc"))
        call_args = ("context", "func", "buffer_address", "nslots", "trap_address")
        wasm_call = assign("err", call("call_unchecked", *call_args))
        body.append(try_([wasm_call], (not_busy, do("interrupted", "exc", keep)), "exc"))
        body.append(set_attr("guard", "busy", False))
        results = tuple(f"r{i}" for i in range(len(self.results)))
        body.append(unpack((*results, "trap"), call("decode", "buffer")))
        if keep:
            body.append(do("release", keep))
        for index, value in sig.param_guests:
            if value.guest.free:
                body.append(do(guest_freer(index), "guests", f"m{index}", f"m{index + 1}"))
        # A failed call: first the trap cell and the parked exception, with
        # no call (at the recursion limit a call could fail and leave the
        # cell set for the next call, or strand the exception); then what
        # the call returned is freed best-effort, or reported by ``fail``.
        taken = if_(
            is_not("pending", None),
            set_attr("PENDING", "exception", None),
            try_((do("discard", "err", "trap"),), (Do(Name("pending")),)),
            Raise("pending"),
        )
        body.append(
            if_(
                AnyOf(("err", "trap")),
                set_item("trap_cell", 0, 0),
                assign("pending", attr("PENDING", "exception")),
                taken,
                do("fail", "err", "trap"),
            )
        )
        for index, conv in self.decoders:
            body.append(assign(results[index], call(conv, "context", results[index])))
        values: List[Expr] = []
        for index, value in sig.result_values:
            if isinstance(value, GuestValue):
                body.append(assign(f"v{index}", call(guest_reader(index), "guests", *results[index : index + 2])))
                values.append(Name(f"v{index}"))
            else:
                values.append(Name(results[index]))
        if not values:
            body.append(return_())
        elif len(values) == 1 and not sig.results_as_tuple:
            body.append(return_(values[0]))
        elif self.results_as_list:
            body.append(Return(MakeList(tuple(values))))
        else:
            body.append(Return(MakeTuple(tuple(values))))
        return Program(
            self.name, args, tuple(body), f"host -> wasm call of {sig} (generated by wasmjit)", extra="extra"
        )


def room_check() -> Stmt:
    """Every typed call's (core and component) check for room below it, once an unguarded host
    callback exists (:mod:`wasmjit.boundary.headroom`): the armed flag, then this thread's frame
    counter against what a trampoline needs, read by the program itself; ``check_headroom`` is
    called only to raise.  Statics: ``HEADROOM`` (the state), ``ROOM`` (the thread's counter),
    ``ROOM_NEEDED``, ``check_headroom``."""
    return if_(
        is_(attr("HEADROOM", "armed"), True),
        if_(lt(attr(attr("ROOM", "counter"), "value"), "ROOM_NEEDED"), do("check_headroom")),
    )


def guest_reader(index: int) -> str:
    """The name under which a plan's program reads the guest data whose address is value ``index``."""
    return f"read_guest_{index}"


def guest_writer(index: int) -> str:
    """The name under which a plan's program writes the guest data whose address is value ``index``."""
    return f"write_guest_{index}"


def guest_freer(index: int) -> str:
    """The name under which a typed call's program frees the guest data of argument ``index``."""
    return f"free_guest_{index}"


def _class_check(value: Expr, cls: type) -> Stmt:
    """``if value.__class__ is not cls: raise ExactPath``."""
    return if_(is_not(attr(value, "__class__"), cls.__name__), Raise("ExactPath"))


def guardable(signature: Signature) -> bool:
    """Whether a callback of ``signature`` can stand behind the guard shim.

    Not one that takes a ``Caller`` or reads or writes guest data: behind the
    shim, its caller is the shim's instance, whose exports are not the
    calling instance's (``caller.get("memory")`` would be ``None``).
    """
    return not signature.wants_caller and not signature.param_guests and not signature.result_guests


@functools.lru_cache(maxsize=1024)
def callback_plan(signature: Signature, flavour: Flavour = Flavour.WASMJIT, guarded: bool = False) -> Plan:
    """The plan of a callback of ``signature`` (one object per signature: its derived facts are computed once)."""
    for _index, value in signature.result_guests:
        if value.guest.alloc is None:
            raise TypeError(
                f"result {value} needs an allocator to be copied into guest memory: "
                f"annotate it Annotated[{value.label}, wasmjit.Guest(alloc='malloc')] (the export's name)"
            )
    if guarded and not guardable(signature):
        raise ValueError(f"a callback of {signature} cannot be guarded: it needs its caller's exports")
    return Plan(Direction.CALLBACK, signature, flavour, guarded)


@functools.lru_cache(maxsize=1024)
def call_plan(signature: Signature, flavour: Flavour = Flavour.WASMJIT) -> Plan:
    """The plan of a typed call of ``signature`` (one object per signature)."""
    if signature.wants_caller:
        raise ValueError("a typed call has no caller")
    for _index, value in signature.param_guests:
        if value.guest.alloc is None:
            raise TypeError(
                f"argument {value} needs an allocator to be copied into guest memory: "
                f"declare it Annotated[{value.label}, wasmjit.Guest(alloc='malloc')] (the export's name)"
            )
    return Plan(Direction.CALL, signature, flavour)
