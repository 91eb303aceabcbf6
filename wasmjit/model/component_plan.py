"""One plan per component function type: what a component trampoline does.

A :class:`ComponentPlan` is to a WIT function type what :class:`~wasmjit.model.plan.Plan`
is to a core signature.  It fixes, once per (type, Python shapes, mode):

* where each parameter's ``val_t`` sits in the argument array
  (``index * LAYOUT.val``) and how it gets there: the integer and float
  parameters in **one** ``struct`` call over the array (kinds included), the
  others through their value codec (:mod:`wasmjit.boundary.component_values`);
* how the result is read: one ``unpack`` for a primitive, the codec otherwise
  (a result tree is not freed by the call that read it: the next call's
  result replaces it, see :attr:`ComponentPlan.result_owned`);
* for host functions, the mirror image: the argument kinds a call must
  present, how arguments are read and how the result is written.

The plan renders itself as an IR :class:`~wasmjit.model.ir.Program` (for the
``bytecode`` and ``source`` backends) and exposes the same facts as fields
(for ``reflect``, which interprets them).  Backends add nothing.
"""

from __future__ import annotations

import functools
import keyword
import re
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple, Tuple, Union

from . import ir, wit
from .ir import assign, attr, call, do, if_, is_not, ne, return_, try_, unpack
from .plan import Direction, Plan, room_check
from .shapes import Shape

__all__ = [
    "ComponentPlan",
    "CALL_FIELDS",
    "HOST_FIELDS",
    "component_plan",
    "PACKED_PRIMS",
    "flat_field",
    "AnyPlan",
    "AnyBindings",
]

#: Primitives written and read together in the plan's one ``struct`` call.
PACKED_PRIMS = wit.NUMBERS
_CODES = wit.PRIM_CODES


def flat_field(ty: wit.WitType, mode: str) -> bool:
    """Whether a record field of type ``ty`` can be stored by an item store and read by ``struct``.

    Numbers, but not ``f32`` (a typed view rounds an out-of-range value to
    inf, where the codec raises), and not ``f64`` in ``stock`` mode
    (wasmtime-py takes only floats there; the view takes ints too).  The one
    rule for records of numbers: the plan's :attr:`ComponentPlan.flat_records`
    and the record codec both follow it.
    """
    return (
        isinstance(ty, wit.Prim)
        and ty.name in wit.NUMBERS
        and ty.name != "f32"
        and not (mode == "stock" and ty.name == "f64")
    )


#: Fields every typed component call binds (then ``lower_0``, ``lower_1``... per unpacked parameter).
CALL_FIELDS = (
    "store", "context_arg", "func_arg", "args", "args_arg", "results", "results_arg", "lift", "failed", "raise_error",
)  # fmt: skip
"""``store``: the store (checked per call: its context is ``None`` once closed); ``args``/``results``:
addresses of the argument ``val_t`` array and the result ``val_t``; ``*_arg``: the FFI call's own
arguments, built once as ctypes objects (ctypes passes them without converting anything): the
store's context, wasmjit's copy of the ``wasmtime_component_func_t``, the two arrays;
``lower_<n>``/``lift``: codec functions; ``failed(exc, *args)``:
what a conversion failure becomes (checked: the precise error; stock: stock's own call);
``raise_error(address)``: the exception for a ``wasmtime_error_t*`` (a parked one first)."""

#: Fields every host function binds (then ``read_0``, ``read_1``... per unpacked parameter).
HOST_FIELDS = ("callback", "lower_result", "scratch", "failed")
"""``callback``: the user's function; ``read_<n>(address)``: the codecs' checked lifts (``Codec.read``:
each checks its value's kind and everything below it as it reads it); ``lower_result``: the result
codec's ``lower`` (``None`` for no result or a number); ``scratch``: a thread-local whose ``where``
is ``(address, extra)``, this thread's Python-owned memory the result is lowered into (its ``val_t``,
then its fixed-size parts) before one ``val_clone`` copies it into wasmtime's allocations
(:attr:`ComponentPlan.result_owned`: wasmtime drops what a host result holds).  Thread-local: one
host function serves every store its linker instantiates into, on any thread;
``failed(exc, context, type, args, nargs, results, nresults)``: re-specialise for another type, or
park the exception and return a ``wasmtime_error_t*``."""


#: Every name a component program uses besides its parameters: its own locals and arguments,
#: the statics (:func:`wasmjit.boundary.component_calls.statics`, checked against this by a
#: test) and the bound values.  A parameter is never named after one of them.
RESERVED_NAMES = frozenset(
    (
        *CALL_FIELDS,
        *HOST_FIELDS,
        # locals and host-trampoline arguments
        "keep", "context", "error", "result", "exc",
        "env", "type", "args", "nargs", "results", "nresults",
        # statics
        "MEMORY", "offset", "BaseException", "store_context", "closed_store", "component_call",
        "pack_params", "unpack_result", "TypeMismatch", "PARAM_KINDS", "val_clone", "BOOL_KIND",
        "interrupts", "raise_interrupt",
        "scratch_at", "scratch_extra",
        "unpack_params", "pack_result", "RESULT_KIND", "NARGS", "NRESULTS", "HEADROOM", "check_headroom",
        "ROOM", "ROOM_NEEDED",
    )
)  # fmt: skip
#: Numbered names the programs use: ``kind_<i>``, ``lower_<n>``, ``read_<n>``, a flat record's
#: ``count_<i>``, ``entries_<i>``, ``make_<i>``, ``unpack_fields_<i>`` and its fields' ``size_<i>_<j>``,
#: ``name_<i>_<j>``, ``kind_<i>_<j>``, ``field_<i>_<j>``, ``K_<i>_<j>``, ``NAME_<i>_<j>``, and ``p<i>``
#: for renamed parameters.
_NUMBERED = re.compile(
    r"^((kind_|lower_|read_|at_|extra_|p|K_|flat_at_|count_|entries_|make_|unpack_fields_)\d+"
    r"|(size_|name_|kind_|field_|K_|NAME_)\d+_\d+|view_[a-zA-Z])$"
)


class ComponentBindings:
    """The values bound into one component trampoline (attributes named by ``plan.bound``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(sorted(self.__dict__))})"


class ComponentCallBindings(ComponentBindings):
    """Bound values of a typed component call (see :data:`CALL_FIELDS`)."""


class ComponentHostBindings(ComponentBindings):
    """Bound values of a host function (see :data:`HOST_FIELDS`)."""


@dataclass(frozen=True, eq=False)
class ComponentPlan:
    """The plan of one (WIT function type, shapes, mode); made once (:func:`component_plan`),
    so it compares and hashes by identity: the caches keyed by plans never rehash a type tree."""

    direction: Direction
    func_type: wit.FuncType
    shapes: Tuple[Shape, ...]
    result_shape: Shape
    mode: str
    """``checked`` (wasmjit.component) or ``stock`` (install(): stock's values and errors)."""

    # Facts every backend reads -----------------------------------------------

    @functools.cached_property
    def param_names(self) -> Tuple[str, ...]:
        """The trampoline's local for each parameter: its WIT name in ``snake_case``, unless that
        is taken (a name the program itself uses, or another parameter's): then ``p<i>``."""
        names: list[str] = []
        for i, (name, _) in enumerate(self.func_type.params):
            candidate = wit.python_name(name)
            taken = candidate in RESERVED_NAMES or _NUMBERED.match(candidate) or candidate in names
            names.append(f"p{i}" if taken or not candidate.isidentifier() else candidate)
        # ``p<i>`` itself may be some parameter's WIT name: then every parameter is ``p<i>``.
        if len(set(names)) != len(names):
            names = [f"p{i}" for i in range(len(names))]
        return tuple(names)

    @functools.cached_property
    def packed(self) -> Tuple[int, ...]:
        """Parameters written (or read) by the one ``struct`` call."""
        return tuple(
            i for i, (_, ty) in enumerate(self.func_type.params) if isinstance(ty, wit.Prim) and ty.name in PACKED_PRIMS
        )

    @functools.cached_property
    def flat_records(self) -> Tuple[int, ...]:
        """Record parameters whose fields are all numbers (:func:`flat_field`: not ``f32``; and not
        ``f64`` in stock mode, where wasmtime-py takes only floats): the codec's rule for records
        of numbers, which the program handles itself.

        Typed calls (fields read as identifier attributes): their header and field names are
        written once, when the caller is made
        (:func:`wasmjit.boundary.component_values.prepare_flat_record`); a call stores each
        field's payload with one item store (:attr:`flat_stores`), no codec call.

        Host functions: the header (kind, field count, entries) is read by the one ``unpack``
        with the numbers, every entry (name size and address, kind, payload) by one more
        (``unpack_fields_<i>``, :attr:`host_fields_format`), each name compared with one item
        read (:attr:`host_fields`), and the value made by the shape's class (``make_<i>``).
        """
        out = []
        for i, (_, ty) in enumerate(self.func_type.params):
            if not isinstance(ty, wit.Record) or not ty.fields:
                continue
            if not all(flat_field(t, self.mode) for _, t in ty.fields):
                continue
            if self.direction is Direction.CALL:
                attrs = self._record_attrs(i)
                if not all(a.isidentifier() and not keyword.iskeyword(a) for a in attrs):
                    continue
            out.append(i)
        return tuple(out)

    def _record_attrs(self, index: int) -> Tuple[str, ...]:
        ty = self.func_type.params[index][1]
        assert isinstance(ty, wit.Record)
        shape = self.shapes[index]
        return tuple(shape.attrs) if shape.kind == "record" else tuple(n for n, _ in ty.fields)

    @functools.cached_property
    def unpacked(self) -> Tuple[int, ...]:
        """Parameters converted by their codec, in order."""
        return tuple(
            i for i in range(len(self.func_type.params)) if i not in self.packed and i not in self.flat_records
        )

    @functools.cached_property
    def extra_offsets(self) -> Tuple[int, ...]:
        """Where each unpacked parameter's fixed-size parts go, from the argument array's start.

        The arena of a typed call: the argument ``val_t`` array, the result
        ``val_t``, these regions, then each flat record's entries
        (:attr:`flat_offsets`); :attr:`arena_size` in all.
        """
        return self._layout[0]

    @functools.cached_property
    def flat_offsets(self) -> Tuple[int, ...]:
        """Where each flat record's entries go, from the argument array's start."""
        return self._layout[1]

    @functools.cached_property
    def arena_size(self) -> int:
        return self._layout[2]

    @functools.cached_property
    def _layout(self) -> Tuple[Tuple[int, ...], Tuple[int, ...], int]:
        from ..boundary.component_values import LAYOUT, static_size

        offset = (len(self.func_type.params) + 1) * LAYOUT.val
        extras = []
        for i in self.unpacked:
            extras.append(offset)
            offset += static_size(self.func_type.params[i][1])
        flats = []
        for i in self.flat_records:
            flats.append(offset)
            offset += static_size(self.func_type.params[i][1])
        # Typed views of the arena (memoryview.cast) need a whole number of 8-byte items.
        return tuple(extras), tuple(flats), (offset + 7) // 8 * 8

    @functools.cached_property
    def flat_stores(self) -> Tuple[Tuple[int, str, int, str], ...]:
        """Each flat record field's store: ``(parameter, struct code, item index in the arena viewed
        as that code, attribute)``; the trampoline does ``view_<code>[index] = parameter.attribute``."""
        from ..boundary.component_values import LAYOUT

        out = []
        for i, base in zip(self.flat_records, self.flat_offsets, strict=True):
            ty = self.func_type.params[i][1]
            assert isinstance(ty, wit.Record)
            for j, ((_, t), attribute) in enumerate(zip(ty.fields, self._record_attrs(i), strict=True)):
                code = _CODES[t.name]  # type: ignore[union-attr]
                offset = base + j * LAYOUT.entry + LAYOUT.entry_val + LAYOUT.of
                width = struct.calcsize("<" + code)
                assert offset % width == 0
                out.append((i, code, offset // width, attribute))
        return tuple(out)

    @functools.cached_property
    def view_codes(self) -> Tuple[str, ...]:
        """The struct codes of the typed views of the arena the program stores through."""
        return tuple(sorted({code for _, code, _, _ in self.flat_stores}))

    @functools.cached_property
    def params_format(self) -> str:
        """``struct`` format over the argument array.

        Calls write the packed parameters (kind, payload per slot); pads never
        cover another parameter's slot: the format stops after the last packed
        parameter, and the unpacked ones are written after it.  Host functions
        read each packed parameter's kind (to check that the call presents this
        plan's type: :attr:`host_checked_kinds`) and payload, and each flat
        record's header (kind, field count, entries), in one call
        (:attr:`host_unpack_targets`); every other parameter's codec checks its
        kind as it reads it (``Codec.read``).
        """
        from ..boundary.component_values import LAYOUT

        if self.direction is Direction.CALL:
            out = ["<"]
            position = 0
            for what, i in self.pack_items:
                if what != "kind":
                    continue
                start = i * LAYOUT.val
                if start > position:
                    out.append(f"{start - position}x")
                out.append(f"B{LAYOUT.of - 1}x")
                if i in self.flat_records:  # the record's header: field count, entries
                    out.append("QQ")
                    position = start + LAYOUT.of + 16
                else:
                    code = _CODES[self.func_type.params[i][1].name]  # type: ignore[union-attr]
                    out.append(code)
                    position = start + LAYOUT.of + struct.calcsize("<" + code)
            return "".join(out)
        # struct reads fields in memory order: the trampoline unpacks (k0, p0, k1, p1, ...), and a
        # flat record's header (kind, field count, entries) where the record's slot is.
        out = ["<"]
        position = 0
        for what, i in self.host_unpack_targets:
            if what != "kind":
                continue
            start = i * LAYOUT.val
            if start > position:
                out.append(f"{start - position}x")
            if i in self.flat_records:
                out.append(f"B{LAYOUT.of - 1}xQQ")
                position = start + LAYOUT.of + 16
            else:
                code = _CODES[self.func_type.params[i][1].name]  # type: ignore[union-attr]
                out.append(f"B{LAYOUT.of - 1}x{code}")
                position = start + LAYOUT.of + struct.calcsize("<" + code)
        return "".join(out)

    def host_fields_format(self, index: int) -> str:
        """Host functions: ``struct`` format over flat record ``index``'s entries: each entry's name
        size and address, its value's kind and payload, in order (:attr:`host_field_names`): the
        record codec's own (:func:`~wasmjit.boundary.component_values.flat_entries_format`)."""
        from ..boundary.component_values import flat_entries_format

        ty = self.func_type.params[index][1]
        assert isinstance(ty, wit.Record) and index in self.flat_records
        return flat_entries_format(ty)

    def host_fields(self, index: int) -> Tuple[Tuple[bytes, int], ...]:
        """Host functions: what each field of flat record ``index`` must present: its name
        (UTF-8) and its kind.  The program compares each name's size (a literal) and bytes
        (``NAME_<i>_<j>``: the byte itself for a one-byte name), and each kind (``K_<i>_<j>``)."""
        from ..boundary.component_values import kind_of

        ty = self.func_type.params[index][1]
        assert isinstance(ty, wit.Record)
        return tuple((name.encode("utf-8"), kind_of(t)) for name, t in ty.fields)

    @staticmethod
    def host_field_names(index: int, field: int) -> Tuple[str, str, str, str]:
        """The locals a host program unpacks for field ``field`` of flat record ``index``: its
        name's size and address, its kind, its payload."""
        return tuple(f"{what}_{index}_{field}" for what in ("size", "name", "kind", "field"))  # type: ignore[return-value]

    @functools.cached_property
    def pack_items(self) -> Tuple[Tuple[str, int], ...]:
        """Typed calls: what the one ``pack_params`` call writes, in order, after ``(MEMORY, args)``:
        ``("kind", i)`` (the constant ``K_<i>``) then ``("value", i)`` (parameter ``i``) for a packed
        parameter; for a flat record whose slot lies between two packed ones (``struct``'s pads
        would zero its header), ``("kind", i)``, ``("count", i)`` (a literal) and ``("flat_at", i)``
        (the bound address of its entries): the header is rewritten with the numbers."""
        if not self.packed:
            return ()
        last = max(self.packed)
        out: list[Tuple[str, int]] = []
        for i in range(last + 1):
            if i in self.packed:
                out += [("kind", i), ("value", i)]
            elif i in self.flat_records:
                out += [("kind", i), ("count", i), ("flat_at", i)]
        return tuple(out)

    @functools.cached_property
    def flat_headers_packed(self) -> Tuple[int, ...]:
        """Flat records whose header ``pack_params`` rewrites (see :attr:`pack_items`)."""
        return tuple(i for what, i in self.pack_items if what == "flat_at")

    @functools.cached_property
    def host_unpack_targets(self) -> Tuple[Tuple[str, int], ...]:
        """What a host trampoline's one ``unpack`` yields, in order: ``("kind", i)`` then
        ``("param", i)`` for each packed parameter ``i``; ``("kind", i)``, ``("count", i)`` and
        ``("entries", i)`` for each flat record ``i`` (its header)."""
        out: list[Tuple[str, int]] = []
        for i in range(len(self.func_type.params)):
            if i in self.packed:
                out += [("kind", i), ("param", i)]
            elif i in self.flat_records:
                out += [("kind", i), ("count", i), ("entries", i)]
        return tuple(out)

    @functools.cached_property
    def host_unpacked_names(self) -> Tuple[str, ...]:
        """The locals the host trampoline's ``unpack`` assigns (``kind_<i>``, the packed parameters,
        ``count_<i>`` and ``entries_<i>``)."""
        return tuple(self.param_names[i] if what == "param" else f"{what}_{i}" for what, i in self.host_unpack_targets)

    @functools.cached_property
    def param_kinds(self) -> bytes:
        """The kind byte of each parameter's ``val_t``."""
        from ..boundary.component_values import kind_of

        return bytes(kind_of(ty) for _, ty in self.func_type.params)

    @functools.cached_property
    def host_checked_kinds(self) -> Tuple[int, ...]:
        """Host functions: the kinds of the parameters the trampoline's ``unpack`` reads (numbers,
        flat records), which it compares one by one (``K_<i>``) before it trusts anything else it
        read; every other parameter's ``Codec.read`` checks its own kind and everything below it."""
        return tuple(self.param_kinds[i] for what, i in self.host_unpack_targets if what == "kind")

    @property
    def passes_context(self) -> bool:
        """Host functions: the callback takes the raw ``wasmtime_context_t*`` first.

        Stock mode (``install()``): the bound callback wraps the user's function,
        which wasmtime-py hands a ``StoreContext`` first.
        """
        return self.direction is Direction.CALLBACK and self.mode == "stock"

    @functools.cached_property
    def result_packed(self) -> bool:
        ty = self.func_type.result
        return isinstance(ty, wit.Prim) and ty.name in PACKED_PRIMS

    @functools.cached_property
    def result_format(self) -> str:
        """``struct`` format of a packed result: its kind and payload (calls read the payload only)."""
        from ..boundary.component_values import LAYOUT

        ty = self.func_type.result
        assert isinstance(ty, wit.Prim)
        if self.direction is Direction.CALL:
            return f"<{LAYOUT.of}x{_CODES[ty.name]}"
        return f"<B{LAYOUT.of - 1}x{_CODES[ty.name]}"

    @functools.cached_property
    def result_kind(self) -> int:
        from ..boundary.component_values import kind_of

        assert self.func_type.result is not None
        return kind_of(self.func_type.result)

    @functools.cached_property
    def result_owned(self) -> bool:
        """The result tree has heap parts.  Host functions lower it into Python memory and copy it
        into wasmtime's allocations with one ``val_clone``.  A call reads it and leaves it in the result slot: wasmtime
        drops what a result slot holds when it writes the next call's result there, so it is freed
        then, one FFI call (``val_delete``) fewer per call; the caller's owner frees the last one
        when the caller is collected (:class:`wasmjit.component.calls.ComponentOwner`)."""
        return self.func_type.result is not None and not isinstance(self.func_type.result, wit.Prim)

    @functools.cached_property
    def name(self) -> str:
        prefix = "call" if self.direction is Direction.CALL else "host"
        return f"{prefix}_component_{abs(hash((self.func_type, self.shapes, self.result_shape, self.mode))):x}"

    @property
    def program_name(self) -> str:
        """The program's name: the same for every plan of a shape, so that plans differing only in
        their types share one assembled (bytecode) or compiled (source) program.  The trampolines
        are renamed when bound (``name=``, e.g. the export's)."""
        return "call_component" if self.direction is Direction.CALL else "host_component"

    @property
    def docstring(self) -> str:
        if self.direction is Direction.CALL:
            return "Call a component function (wasmjit component plan); see __wasmjit__.plan for its type."
        return "A component host function (wasmjit component plan); see explain() for its type."

    @property
    def bindings(self) -> Any:
        """The class of this plan's bound values (one per direction: no class is made per plan,
        which would need ``eval`` - namedtuple's - and fail where code generation is forbidden)."""
        return ComponentCallBindings if self.direction is Direction.CALL else ComponentHostBindings

    @functools.cached_property
    def bound(self) -> Tuple[str, ...]:
        """The names of the bound values, in order."""
        if self.direction is Direction.CALL:
            views = tuple(f"view_{code}" for code in self.view_codes)
            flats = tuple(f"flat_at_{i}" for i in self.flat_headers_packed)
            converted = tuple(f"{what}_{n}" for n in range(len(self.unpacked)) for what in ("lower", "at", "extra"))
            return CALL_FIELDS + converted + views + flats
        return HOST_FIELDS + tuple(f"read_{n}" for n in range(len(self.unpacked)))

    def bind_values(self, **values: Any) -> "ComponentBindings":
        """This plan's bound values, checked to be exactly :attr:`bound`."""
        if set(values) != set(self.bound):
            raise TypeError(f"{self.name} binds {', '.join(self.bound)}, not {', '.join(values)}")
        bindings: ComponentBindings = self.bindings()
        bindings.__dict__.update(values)
        return bindings

    @property
    def guarded(self) -> bool:
        return False

    # The program ---------------------------------------------------------------

    def program(self) -> ir.Program:
        if self.direction is Direction.CALL:
            return self._call_program()
        return self._host_program()

    def _call_program(self) -> ir.Program:

        names = self.param_names
        body: list[ir.Stmt] = []
        if self.unpacked:
            # What the borrowed arguments point into lives until the call returns.
            body.append(assign("keep", ir.NewList()))
        body.append(assign("context", call("store_context", "store")))
        body.append(if_(ir.is_("context", None), ir.Do(call("closed_store"))))
        # Room for an unguarded host function (a component host function, or a core callback that
        # cannot stand behind the guard shim) below this entry into wasm: wasmjit.boundary.headroom.
        body.append(room_check())
        lowering: list[ir.Stmt] = []
        if self.packed:
            packed_args: list[ir.Operand] = ["MEMORY", "args"]
            for what, i in self.pack_items:
                if what == "kind":
                    packed_args.append(f"K_{i}")
                elif what == "value":
                    packed_args.append(names[i])
                elif what == "count":
                    packed_args.append(len(self.func_type.params[i][1].fields))  # type: ignore[union-attr]
                else:
                    packed_args.append(f"flat_at_{i}")
            lowering.append(do("pack_params", *packed_args))
        for i, code, index, attribute in self.flat_stores:
            lowering.append(ir.SetItem(ir.Name(f"view_{code}"), ir.Literal(index), attr(names[i], attribute)))
        for n, i in enumerate(self.unpacked):
            # Where its val_t and its fixed-size parts go: addresses in this caller's arena, bound.
            lowering.append(do(f"lower_{n}", names[i], f"at_{n}", f"extra_{n}", "keep"))
        if lowering:
            body.append(try_(lowering, (return_(call("failed", "exc", *names)),), name="exc"))
        call_args = ("func_arg", "context_arg", "args_arg", "NARGS", "results_arg", "NRESULTS")
        body.append(assign("error", call("component_call", *call_args)))
        body.append(if_(is_not("error", None), ir.Do(call("raise_error", "error"))))
        if self.func_type.result is None:
            body.append(return_())
        elif self.result_packed:
            body.append(unpack(("result",), call("unpack_result", "MEMORY", "results")))
            body.append(return_("result"))
        else:
            # The tree stays in the slot until the next call's result replaces it (result_owned).
            body.append(return_(call("lift", "results")))
        return ir.Program(self.program_name, names, tuple(body), self.docstring)

    def _host_program(self) -> ir.Program:
        from ..boundary.component_values import LAYOUT

        names = self.param_names
        arguments = ("env", "context", "type", "args", "nargs", "results", "nresults")
        # A call that presents another type (the same host function imported under
        # another one) raises TypeMismatch: ``failed`` re-specialises.
        nresults = 0 if self.func_type.result is None else 1
        body: list[ir.Stmt] = [
            # The interrupt point: a Ctrl-C deferred at this frame's entry is raised here, inside
            # the try (wasmjit.boundary.interrupts), as in every core callback.
            if_(ir.is_(attr("interrupts", "pending"), True), do("raise_interrupt")),
            if_(ne("nargs", len(names)), ir.Raise("TypeMismatch")),
            if_(ne("nresults", nresults), ir.Raise("TypeMismatch")),
        ]
        if self.host_unpack_targets:
            body.append(unpack(self.host_unpacked_names, call("unpack_params", "MEMORY", "args")))
            # Every kind first: in a value of another kind, what sits where a count or an
            # address would be is neither.  One compare each (cheaper than a tuple's).
            for what, i in self.host_unpack_targets:
                if what == "kind":
                    body.append(if_(ne(f"kind_{i}", f"K_{i}"), ir.Raise("TypeMismatch")))
        for i in self.flat_records:
            body += self._host_flat_record(i)
        for n, i in enumerate(self.unpacked):
            address = "args" if i == 0 else call("offset", "args", i * LAYOUT.val)
            body.append(assign(names[i], call(f"read_{n}", address)))
        outcome = call("callback", "context", *names) if self.passes_context else call("callback", *names)
        if self.func_type.result is None:
            body.append(ir.Do(outcome))
        elif self.result_packed:
            body.append(assign("result", outcome))
            body.append(do("pack_result", "MEMORY", "results", "RESULT_KIND", "result"))
        elif self.result_owned:
            # Lowered into Python memory, then copied into wasmtime's allocations by one
            # val_clone (wasmtime frees what a host result holds); the slot starts as bool.
            body.append(assign("result", outcome))
            body.append(assign("keep", ir.NewList()))
            body.append(unpack(("scratch_at", "scratch_extra"), attr("scratch", "where")))
            body.append(do("lower_result", "result", "scratch_at", "scratch_extra", "keep"))
            body.append(ir.SetItem(ir.Name("MEMORY"), ir.Name("results"), ir.Name("BOOL_KIND")))
            body.append(do("val_clone", "scratch_at", "results"))
        else:  # bool, char: nothing on the heap, lowered in place
            body.append(assign("result", outcome))
            body.append(do("lower_result", "result", "results", 0, ir.NewList()))
        body.append(return_())  # success: no error pointer
        handler = (return_(call("failed", "exc", "context", "type", "args", "nargs", "results", "nresults")),)
        program_body = (try_(body, handler, name="exc"),)
        # Nothing before the try, and the try covers the frame's entry and its return: a hook or
        # a signal raising as the frame starts lands in the handler (issue 12, finding 3); the
        # handler reads only arguments and constants.
        return ir.Program(
            self.program_name,
            arguments,
            program_body,
            self.docstring,
            entry_checks_signals=False,
            try_covers_entry=True,
        )

    def _host_flat_record(self, i: int) -> "list[ir.Stmt]":
        """Read flat record ``i`` (its header unpacked): its count, then every entry in one ``unpack``;
        each name's size and kind, then its bytes (only then is a name's address trusted); then make it."""
        fields = self.host_fields(i)
        out: list[ir.Stmt] = [if_(ne(f"count_{i}", len(fields)), ir.Raise("TypeMismatch"))]
        locals_ = [self.host_field_names(i, j) for j in range(len(fields))]
        unpacked = tuple(name for names in locals_ for name in names)
        out.append(unpack(unpacked, call(f"unpack_fields_{i}", "MEMORY", f"entries_{i}")))
        for j, (name, _) in enumerate(fields):
            size, _, kind, _ = locals_[j]
            out.append(if_(ne(size, len(name)), ir.Raise("TypeMismatch")))
            out.append(if_(ne(kind, f"K_{i}_{j}"), ir.Raise("TypeMismatch")))
        for j, (name, _) in enumerate(fields):
            address = locals_[j][1]
            read = ir.item("MEMORY", address) if len(name) == 1 else ir.span("MEMORY", address, len(name))
            out.append(if_(ne(read, f"NAME_{i}_{j}"), ir.Raise("TypeMismatch")))
        out.append(assign(self.param_names[i], call(f"make_{i}", *(names[3] for names in locals_))))
        return out

    @functools.cached_property
    def name_constants(self) -> "dict[str, Union[int, bytes]]":
        """Host functions: each flat record field's name (``NAME_<i>_<j>``): the byte itself for a
        one-byte name (one item read compares it), the bytes otherwise."""
        if self.direction is Direction.CALL:
            return {}
        out: "dict[str, Union[int, bytes]]" = {}
        for i in self.flat_records:
            for j, (name, _) in enumerate(self.host_fields(i)):
                out[f"NAME_{i}_{j}"] = name[0] if len(name) == 1 else name
        return out

    @functools.cached_property
    def kind_constants(self) -> "dict[str, int]":
        """The kinds the program names (``K_<i>``: parameter ``i``; ``RESULT_KIND``) rather than spells:
        programs that differ only in their primitives' types share one assembled shape."""
        from ..boundary.component_values import kind_of

        if self.direction is Direction.CALL:
            kinds = [i for what, i in self.pack_items if what == "kind"]
        else:  # a host function compares each kind it unpacks with K_<i>, each flat field's with K_<i>_<j>
            kinds = [i for what, i in self.host_unpack_targets if what == "kind"]
        out = {f"K_{i}": kind_of(self.func_type.params[i][1]) for i in kinds}
        if self.direction is Direction.CALLBACK:
            for i in self.flat_records:
                out.update((f"K_{i}_{j}", kind) for j, (_, kind) in enumerate(self.host_fields(i)))
        if self.func_type.result is not None:
            out["RESULT_KIND"] = self.result_kind
        return out


@functools.cache
def component_plan(
    direction: Direction, func_type: wit.FuncType, shapes: Tuple[Shape, ...], result_shape: Shape, mode: str
) -> ComponentPlan:
    """The plan of one component function type (made once per process)."""
    return ComponentPlan(direction, func_type, shapes, result_shape, mode)


#: What a backend renders: a core plan or a component plan.
AnyPlan = Union[Plan, ComponentPlan]
#: What a backend binds: a core plan's NamedTuple, or a component plan's bindings.
AnyBindings = Union[NamedTuple, ComponentBindings]
