"""The ``reflect`` backend: no generated code; the plan is interpreted per call.

This is the path for interpreters that forbid ``compile``/``exec`` and new
code objects.  The trampolines below are ordinary functions written once;
each reads the plan's fields (formats, conversions, result shape) from its
closure on every call.  They do what the plan's program (``Plan.program()``)
says, in the same order, with the same failure paths; the tests run them
beside a reference interpreter of that program, messages included.
"""

from __future__ import annotations

import operator
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..boundary.wasmtime_py import STORE_CONTEXT_ATTRIBUTE
from ..model.component_plan import AnyBindings, AnyPlan, ComponentPlan
from ..model.kinds import GuestValue
from ..model.plan import CallbackBindings, CallBindings, Direction, Plan, guest_freer, guest_reader, guest_writer
from . import extable

__all__ = ["ReflectTemplate"]


class ReflectTemplate:
    """Binds the generic trampoline of a direction to one plan."""

    backend = "reflect"

    def __init__(self, plan: AnyPlan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        self.statics = statics

    def bind(self, bindings: "AnyBindings") -> Callable[..., Any]:
        if isinstance(self.plan, ComponentPlan):
            if self.plan.direction is Direction.CALL:
                return _component_call(self.plan, self.statics, bindings)
            return _component_host(self.plan, self.statics, bindings)
        if self.plan.direction is Direction.CALLBACK:
            assert isinstance(bindings, CallbackBindings)
            return _callback(self.plan, self.statics, bindings)
        assert isinstance(bindings, CallBindings)
        return _call(self.plan, self.statics, bindings)

    def listing(self, trampoline: Callable[..., Any]) -> str:
        if isinstance(self.plan, ComponentPlan):
            return f"reflect: interprets the component plan of {self.plan.func_type} ({self.plan.mode})"
        return self.plan.describe()


def _missing_arguments(qualname: str, names: "List[str]") -> TypeError:
    """The ``TypeError`` CPython raises for a call that lacks positional arguments."""
    quoted = [repr(name) for name in names]
    if len(quoted) == 1:
        listed = quoted[0]
    elif len(quoted) == 2:
        listed = f"{quoted[0]} and {quoted[1]}"
    else:
        listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    plural = "" if len(names) == 1 else "s"
    return TypeError(f"{qualname}() missing {len(names)} required positional argument{plural}: {listed}")


def _keyword_arguments(qualname: str, names: "List[str]", keywords: Dict[str, Any]) -> TypeError:
    """The ``TypeError`` CPython raises for keywords given to a function with positional-only parameters."""
    positional = [name for name in keywords if name in names]
    if positional:
        listed = ", ".join(positional)
        return TypeError(f"{qualname}() got some positional-only arguments passed as keyword arguments: '{listed}'")
    return TypeError(f"{qualname}() got an unexpected keyword argument '{next(iter(keywords))}'")


def _guest_layout(
    values: "Tuple[Tuple[int, Any], ...]", statics: Dict[str, Any], name: Callable[[int], str]
) -> "Optional[List[Tuple[int, Optional[Callable[..., Any]]]]]":
    """Each value's first wasm index and its guest helper (``None`` for a plain value); ``None`` without guests."""
    if not any(isinstance(value, GuestValue) for _, value in values):
        return None
    return [(index, statics[name(index)] if isinstance(value, GuestValue) else None) for index, value in values]


def _callback(plan: Plan, statics: Dict[str, Any], bindings: CallbackBindings) -> Callable[..., Any]:
    callback, fail = bindings
    MEMORY = statics["MEMORY"]
    MISSING = statics["MISSING"]
    ExactPath = statics["ExactPath"]
    decode = statics["decode"] if plan.params else None
    encode = statics["encode"]
    release = statics["release"]
    Caller = statics["Caller"]
    invalidate = statics["invalidate"]
    caller_context = statics["caller_context"]
    interrupts_state = statics["interrupts"]
    raise_interrupt = statics["raise_interrupt"]
    decoders: Tuple[Tuple[int, Callable[..., Any]], ...] = tuple((i, statics[n]) for i, n in plan.decoders)
    encoders: Tuple[Tuple[int, Callable[..., Any]], ...] = tuple((i, statics[n]) for i, n in plan.encoders)
    wants_caller = plan.signature.wants_caller
    needs_context = plan.needs_context
    keeps_refs = plan.keeps_refs
    has_results = bool(plan.results)
    as_tuple = plan.signature.results_as_tuple
    class_checks = plan.class_checks
    # Guest data: (index of the first wasm value, reader or writer, or None for a plain value).
    param_values = _guest_layout(plan.signature.param_values, statics, guest_reader)
    result_values = _guest_layout(plan.signature.result_values, statics, guest_writer)
    guarded = plan.guarded
    PENDING: Any = statics["PENDING"]
    FLAGVIEW: Any = statics.get("FLAGVIEW")

    DONE = statics["DONE"]

    # The program's defaults are parameter defaults here too, and the try
    # covers the entry and the final return (see ``_cover_entry`` below).
    def trampoline(
        env: Any,
        caller_ptr: Optional[int],
        raw: int,
        nraw: int,
        result: Any = MISSING,
        caller: Any = None,
        keep: Optional[List[Any]] = None,
        written: Optional[List[int]] = None,
        /,
    ) -> Optional[int]:
        try:
            if keeps_refs:
                keep = []
            if interrupts_state.pending:
                raise_interrupt()
            if wants_caller:
                caller = Caller(caller_ptr)
            ctx = caller_context(caller_ptr) if needs_context else None
            args: Any = decode(MEMORY, raw) if decode is not None else ()
            if decoders:
                args = list(args)
                for index, convert in decoders:
                    args[index] = convert(ctx, args[index])
            if param_values is not None:
                args = [
                    args[index] if read is None else read(caller_ptr, args[index], args[index + 1])
                    for index, read in param_values
                ]
            if caller is not None:
                result = callback(caller, *args)
                invalidate(caller)
            else:
                result = callback(*args)
            if not has_results:
                if result is not None:
                    raise ExactPath
            else:
                if as_tuple:
                    if result.__class__ is not tuple:
                        raise ExactPath
                    outputs: Any = result
                else:
                    outputs = (result,)
                if result_values is not None:
                    flat: List[Any] = []
                    copied: List[int] = []
                    for (_, write), output in zip(result_values, outputs, strict=True):
                        if write is None:
                            flat.append(output)
                        else:
                            pair = write(caller_ptr, output)
                            flat.extend(pair)
                            copied.extend(pair)
                    written = copied
                    outputs = flat
                for index, cls in class_checks:
                    if outputs[index].__class__ is not cls:
                        raise ExactPath
                if encoders:
                    outputs = list(outputs)
                    for index, convert in encoders:
                        outputs[index] = convert(ctx, outputs[index], keep)
                encode(MEMORY, raw, *outputs)
                if keep:
                    release(keep)
            result = DONE
            if guarded:
                FLAGVIEW[raw] = 1  # the flag, last
            return None  # (one exit, right after the try's range: covered on 3.12+)
        except BaseException as exc:
            if guarded:
                FLAGVIEW[raw] = 0  # set already if a hook raised at the return
                PENDING.exception = exc  # parked before any call
            if result_values is not None:
                ret = fail(exc, result, raw, caller_ptr, caller, keep, None if written is None else tuple(written))
            else:
                ret = fail(exc, result, raw, caller_ptr, caller, keep)
        # (the program's second try: its return is covered too)
        try:
            return ret
        except BaseException as exc:
            if guarded:
                FLAGVIEW[raw] = 0
            PENDING.exception = exc
            if not guarded and ret is None:
                return fail(exc, DONE, raw, caller_ptr, None, None)
            return ret

    return trampoline


def _call(plan: Plan, statics: Dict[str, Any], bindings: CallBindings) -> Callable[..., Any]:
    (
        store,
        buffer,
        context,
        func,
        buffer_address,
        nslots,
        trap_address,
        fail,
        encode_exact,
        too_many,
        guard,
        nested,
        interrupted,
        guests,
        trap_cell,
    ) = bindings
    encode = statics["encode"]
    decode = statics["decode"]
    release = statics["release"]
    closed_store = statics["closed_store"]
    call_unchecked = statics["call_unchecked"]
    PENDING = statics["PENDING"]
    discard = statics["discard"]
    HEADROOM = statics["HEADROOM"]
    check_headroom = statics["check_headroom"]
    ROOM, ROOM_NEEDED = statics["ROOM"], statics["ROOM_NEEDED"]
    decoders = tuple((i, statics[n]) for i, n in plan.decoders)
    encoders = tuple((i, statics[n]) for i, n in plan.encoders)
    sig = plan.signature
    nparams = len(sig.param_values)
    nresults = len(plan.results)
    keeps_refs = plan.keeps_refs
    as_tuple = sig.results_as_tuple or len(sig.result_values) > 1
    as_list = plan.results_as_list
    class_checks = plan.class_checks
    ExactPath = statics["ExactPath"]
    argument_names = [f"a{i}" for i in range(nparams)]
    store_context = operator.attrgetter(STORE_CONTEXT_ATTRIBUTE)
    param_values = _guest_layout(sig.param_values, statics, guest_writer)
    result_values = _guest_layout(sig.result_values, statics, guest_reader)
    frees = tuple((index, statics[guest_freer(index)]) for index, value in sig.param_guests if value.guest.free)

    def call(*args: Any, **keywords: Any) -> Any:
        if keywords or len(args) != nparams:
            # Called as the generated functions cannot be: their messages, from CPython.
            if keywords:
                raise _keyword_arguments(call.__qualname__, argument_names, keywords)
            if len(args) < nparams:
                raise _missing_arguments(call.__qualname__, argument_names[len(args) :])
            too_many(args[:nparams], args[nparams:])
        keep: Optional[List[Any]] = [] if keeps_refs else None
        if store_context(store) is None:
            closed_store()
        if HEADROOM.armed is True and ROOM.counter.value < ROOM_NEEDED:
            check_headroom()
        if guard.busy is True:
            return nested(*args)
        guard.busy = True
        flat: Any = args
        if param_values is not None:
            try:
                flat = []
                for (_, write), arg in zip(param_values, args, strict=True):
                    if write is None:
                        flat.append(arg)
                    else:
                        flat.extend(write(guests, arg))
            except BaseException as exc:
                guard.busy = False  # before any call (see the plan's program)
                interrupted(exc, keep)
        if flat:
            try:
                for index, cls in class_checks:
                    if flat[index].__class__ is not cls:
                        raise ExactPath
                inputs: Any = flat
                if encoders:
                    inputs = list(flat)
                    for index, convert in encoders:
                        inputs[index] = convert(context, inputs[index], keep)
                encode(buffer, 0, *inputs)
            except BaseException as exc:
                guard.busy = False
                encode_exact(exc, keep, *flat)
                guard.busy = True
        try:
            err = call_unchecked(context, func, buffer_address, nslots, trap_address)
        except BaseException as exc:
            guard.busy = False
            interrupted(exc, keep)
        guard.busy = False
        outputs: Any = decode(buffer)
        if keep:
            release(keep)
        for index, free in frees:
            free(guests, flat[index], flat[index + 1])
        trap = outputs[-1]
        if err or trap:
            # No call before the parked exception is raised (see the plan's program).
            trap_cell[0] = 0
            pending = PENDING.exception
            if pending is not None:
                PENDING.exception = None
                try:
                    discard(err, trap)
                except BaseException:
                    pass
                raise pending
            fail(err, trap)
        if not nresults:
            return None
        if decoders:
            outputs = list(outputs)
            for index, convert in decoders:
                outputs[index] = convert(context, outputs[index])
        if result_values is not None:
            outputs = [
                outputs[index] if read is None else read(guests, outputs[index], outputs[index + 1])
                for index, read in result_values
            ]
            nvalues = len(outputs)
        else:
            nvalues = nresults
        if as_list:
            return list(outputs[:nvalues])
        if as_tuple:
            return tuple(outputs[:nvalues])
        return outputs[0]

    return call


def _cover_entry() -> None:
    """Widen the callback trampolines' ``try`` over their entry and return (once, at import).

    What ``Program.try_covers_entry`` asks (see :mod:`wasmjit.backends.extable`).
    On an interpreter that refuses new code objects (an audit hook), the
    trampoline keeps the compiler's range: a hook raising at its entry is
    then caught by the guard shim (guarded callbacks) or not at all.
    """
    # (core: two try statements end in a return, as in the plan's program; component hosts: one)
    for factory, returns in ((_callback, 2), (_component_host, 1)):
        code = factory.__code__
        try:
            consts = tuple(
                extable.cover_entry(c, returns) if isinstance(c, types.CodeType) and c.co_name == "trampoline" else c
                for c in code.co_consts
            )
            factory.__code__ = code.replace(co_consts=consts)
        except Exception:  # an audit hook refusing code objects
            return
    COVERS_ENTRY[0] = True


# Component plans ----------------------------------------------------------------------


def _component_call(plan: ComponentPlan, statics: Dict[str, Any], bindings: Any) -> Callable[..., Any]:
    """A typed component call that follows ``plan``'s fields (what the generated program does)."""
    memory = statics["MEMORY"]
    store_context = statics["store_context"]
    closed_store = statics["closed_store"]
    component_call = statics["component_call"]
    pack_params: Any = statics.get("pack_params")
    unpack_result: Any = statics.get("unpack_result")
    headroom_state, check_headroom = statics["HEADROOM"], statics["check_headroom"]
    room, room_needed = statics["ROOM"], statics["ROOM_NEEDED"]
    store, args_at, results_at = bindings.store, bindings.args, bindings.results
    func_arg, context_arg, args_arg, results_arg = (
        bindings.func_arg,
        bindings.context_arg,
        bindings.args_arg,
        bindings.results_arg,
    )
    nargs_arg, nresults_arg = statics["NARGS"], statics["NRESULTS"]
    failed, raise_error, lift = bindings.failed, bindings.raise_error, bindings.lift
    packed = plan.packed
    kinds = plan.param_kinds
    lowers = [
        (getattr(bindings, f"lower_{n}"), i, getattr(bindings, f"at_{n}"), getattr(bindings, f"extra_{n}"))
        for n, i in enumerate(plan.unpacked)
    ]
    nparams = len(plan.func_type.params)
    nresults = 0 if plan.func_type.result is None else 1
    result_packed = plan.result_packed
    qualname = plan.name
    flat_stores = [(i, getattr(bindings, f"view_{code}"), index, attr) for i, code, index, attr in plan.flat_stores]
    pack_items = plan.pack_items
    counts = {i: len(plan.func_type.params[i][1].fields) for i in plan.flat_records}  # type: ignore[union-attr]
    flat_at = {i: getattr(bindings, f"flat_at_{i}") for i in plan.flat_headers_packed}

    def call(*args: Any) -> Any:
        if len(args) != nparams:
            raise TypeError(f"{qualname}() takes {nparams} positional arguments but {len(args)} were given")
        keep: List[Any] = []
        context = store_context(store)
        if context is None:
            closed_store()
        if headroom_state.armed is True and room.counter.value < room_needed:
            check_headroom()
        try:
            if packed:
                items: List[Any] = []
                for what, i in pack_items:
                    if what == "kind":
                        items.append(kinds[i])
                    elif what == "value":
                        items.append(args[i])
                    elif what == "count":
                        items.append(counts[i])
                    else:
                        items.append(flat_at[i])
                pack_params(memory, args_at, *items)
            for i, view, index, attribute in flat_stores:
                view[index] = getattr(args[i], attribute)
            for lower, i, at, extra in lowers:
                lower(args[i], at, extra, keep)
        except BaseException as exc:
            return failed(exc, *args)
        error = component_call(func_arg, context_arg, args_arg, nargs_arg, results_arg, nresults_arg)
        if error is not None:
            raise_error(error)
        if not nresults:
            return None
        if result_packed:
            return unpack_result(memory, results_at)[0]
        return lift(results_at)  # left in the slot for the next call to drop (plan.result_owned)

    return call


def _component_host(plan: ComponentPlan, statics: Dict[str, Any], bindings: Any) -> Callable[..., Any]:
    """A host function trampoline that follows ``plan``'s fields."""
    memory = statics["MEMORY"]
    mismatch = statics["TypeMismatch"]
    expected_kinds = statics["PARAM_KINDS"]
    unpack_params: Any = statics.get("unpack_params")
    pack_result: Any = statics.get("pack_result")
    callback, lower_result, failed = bindings.callback, bindings.lower_result, bindings.failed
    scratch = bindings.scratch
    val_clone, bool_kind = statics["val_clone"], statics["BOOL_KIND"]
    result_owned = plan.result_owned
    stride = component_values_stride()
    reads = [(getattr(bindings, f"read_{n}"), i * stride, i) for n, i in enumerate(plan.unpacked)]
    nparams = len(plan.func_type.params)
    has_result = plan.func_type.result is not None
    result_packed = plan.result_packed
    result_kind = plan.result_kind if has_result else 0
    passes_context = plan.passes_context
    targets = plan.host_unpack_targets
    # Where each fact stands in what the one unpack yields: the kinds, each packed parameter, and
    # each flat record's header.
    position = {target: k for k, target in enumerate(targets)}
    kinds_at = [position[what, i] for what, i in targets if what == "kind"]
    # One itemgetter picks the kinds (one kind: the kind itself, not a tuple).
    kinds_of: Any = operator.itemgetter(*kinds_at) if kinds_at else None
    kinds_expected = expected_kinds[0] if len(kinds_at) == 1 else expected_kinds
    params_at = [(position[what, i], i) for what, i in targets if what == "param"]
    # Each flat record: where its count and entries stand, its field count, its entries' unpack
    # (name size, name address, kind and payload per field), what the sizes and kinds must be (one
    # itemgetter picks them), each name's address and what it must hold (NAME_<i>_<j>: the byte of
    # a one-byte name), the payloads (one itemgetter) and the record's class.
    flat_records = []
    for i in plan.flat_records:
        fields = plan.host_fields(i)
        count = len(fields)
        flat_records.append(
            (
                position["count", i],
                position["entries", i],
                count,
                statics[f"unpack_fields_{i}"],
                operator.itemgetter(*(k for j in range(count) for k in (4 * j, 4 * j + 2))),
                tuple(x for name, kind in fields for x in (len(name), kind)),
                tuple((4 * j + 1, statics[f"NAME_{i}_{j}"], len(name)) for j, (name, _) in enumerate(fields)),
                (lambda got: (got[3],)) if count == 1 else operator.itemgetter(*range(3, 4 * count, 4)),
                statics[f"make_{i}"],
                i,
            )
        )

    interrupts_state, raise_interrupt = statics["interrupts"], statics["raise_interrupt"]

    # The try covers the entry and the final return (see ``_cover_entry`` below).
    def trampoline(
        env: Any, context: Any, type_: Any, args: int, nargs: int, results: int, nresults: int
    ) -> Optional[int]:
        try:
            if interrupts_state.pending:
                raise_interrupt()
            if nargs != nparams or nresults != has_result:
                raise mismatch
            values: List[Any] = [None] * nparams
            if targets:  # the numbers' and flat records' kinds, payloads and headers (the others' reads check theirs)
                header = unpack_params(memory, args)
                if kinds_of(header) != kinds_expected:
                    raise mismatch
                for k, i in params_at:
                    values[i] = header[k]
                for flat in flat_records:
                    count_at, entries_at, count, unpack_fields, constant, expected, names, payloads, make, i = flat
                    if header[count_at] != count:
                        raise mismatch
                    got = unpack_fields(memory, header[entries_at])
                    if constant(got) != expected:
                        raise mismatch
                    for k, name, size in names:  # each address trusted once every size is
                        address = got[k]
                        if (memory[address] if size == 1 else memory[address : address + size]) != name:
                            raise mismatch
                    values[i] = make(*payloads(got))
            for read, offset, i in reads:
                values[i] = read(args + offset)
            result = callback(context, *values) if passes_context else callback(*values)
            if has_result:
                if result_packed:
                    pack_result(memory, results, result_kind, result)
                elif result_owned:  # lowered here, copied into wasmtime's allocations
                    keep: List[Any] = []  # what the lowered value points into, until the clone
                    scratch_at, scratch_extra = scratch.where
                    lower_result(result, scratch_at, scratch_extra, keep)
                    memory[results] = bool_kind
                    val_clone(scratch_at, results)
                else:
                    lower_result(result, results, 0, [])
            return None
        except BaseException as exc:
            return failed(exc, context, type_, args, nargs, results, nresults)  # type: ignore[no-any-return]

    return trampoline


def component_values_stride() -> int:
    from ..boundary.component_values import LAYOUT

    return LAYOUT.val


#: Whether the callback trampolines' try covers their entry in this process.
COVERS_ENTRY = [False]
_cover_entry()
