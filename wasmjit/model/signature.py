"""What a callable says about its wasm signature: annotations and ``FuncType``.

:func:`infer` turns a Python callable (and optionally a ``wasmtime.FuncType``)
into a :class:`Signature`: the wasm kinds of its parameters and results,
whether it wants the ``Caller``, and whether it returns its results as a
tuple.  Everything here runs once per registration, never per call.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import wasmtime
from typing_extensions import get_args, get_origin

from ..boundary import valtypes
from .annotations import resolve
from .kinds import Guest, GuestValue, Kind

__all__ = ["Signature", "Value", "infer", "kinds_of_functype", "signature_of_functype"]

#: What one Python value is at the boundary: one wasm value of a kind, or guest data (two).
Value = Union[Kind, GuestValue]
#: Guest values among a signature's flat wasm values: (index of the address, what it is).
Guests = Tuple[Tuple[int, GuestValue], ...]


def _flatten(values: "Tuple[Value, ...]") -> "Tuple[Tuple[Kind, ...], Guests]":
    kinds: List[Kind] = []
    guests: List[Tuple[int, GuestValue]] = []
    for value in values:
        if isinstance(value, GuestValue):
            guests.append((len(kinds), value))
            kinds.extend(value.flat)
        else:
            kinds.append(value)
    return tuple(kinds), tuple(guests)


def _group(kinds: "Tuple[Kind, ...]", guests: Guests) -> "Tuple[Tuple[int, Value], ...]":
    """Each Python value with the index of its first wasm value."""
    at = dict(guests)
    out: List[Tuple[int, Value]] = []
    index = 0
    while index < len(kinds):
        guest = at.get(index)
        out.append((index, guest if guest is not None else kinds[index]))
        index += 2 if guest is not None else 1
    return tuple(out)


@dataclass(frozen=True)
class Signature:
    """The wasm-level shape of a callable."""

    params: Tuple[Kind, ...]
    """The kinds of the wasm parameters (a ``Caller`` is not one)."""
    results: Tuple[Kind, ...]
    """The kinds of the wasm results."""
    wants_caller: bool = False
    """Whether the callable takes a ``Caller`` first."""
    results_as_tuple: bool = False
    """``True`` when results come back as a tuple (``tuple[...]`` or several
    result values); ``False`` for no result or one bare value."""
    param_guests: Guests = ()
    """Parameters that are guest data: the index of the address among
    :attr:`params` (the length follows it)."""
    result_guests: Guests = ()
    """Results that are guest data, likewise among :attr:`results`."""

    @classmethod
    def of_values(
        cls,
        params: "Tuple[Value, ...]",
        results: "Tuple[Value, ...]",
        wants_caller: bool = False,
        results_as_tuple: bool = False,
    ) -> "Signature":
        """The signature of Python values (guest data stands for two wasm values each)."""
        flat_params, param_guests = _flatten(params)
        flat_results, result_guests = _flatten(results)
        return cls(flat_params, flat_results, wants_caller, results_as_tuple, param_guests, result_guests)

    def __post_init__(self) -> None:
        if len(self.result_values) > 1 and not self.results_as_tuple:
            object.__setattr__(self, "results_as_tuple", True)

    @property
    def param_values(self) -> "Tuple[Tuple[int, Value], ...]":
        """Each Python parameter with the index of its first wasm parameter."""
        return _group(self.params, self.param_guests)

    @property
    def result_values(self) -> "Tuple[Tuple[int, Value], ...]":
        """Each Python result with the index of its first wasm result."""
        return _group(self.results, self.result_guests)

    def __str__(self) -> str:
        params = ", ".join(str(value) for _, value in self.param_values)
        values = [str(value) for _, value in self.result_values]
        if self.results_as_tuple:
            results = "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"
        elif values:
            results = values[0]
        else:
            results = "()"
        caller = "Caller, " if self.wants_caller else ""
        return f"({caller}{params}) -> {results}"

    def functype(self) -> wasmtime.FuncType:
        """A new ``wasmtime.FuncType`` for this signature."""
        return valtypes.new_functype(self.params, self.results)


_PLAIN = {int: Kind.I32, float: Kind.F64, bool: Kind.I32}

_FUNCTYPE_KINDS: "weakref.WeakKeyDictionary[wasmtime.FuncType, Tuple[Tuple[Kind, ...], Tuple[Kind, ...]]]"
_FUNCTYPE_KINDS = weakref.WeakKeyDictionary()


def kinds_of_functype(ty: wasmtime.FuncType) -> "Tuple[Tuple[Kind, ...], Tuple[Kind, ...]]":
    """The parameter and result kinds of ``ty`` (cached per ``FuncType`` object)."""
    if not isinstance(ty, wasmtime.FuncType):
        raise TypeError(f"type= expects a wasmtime.FuncType, got {type(ty).__name__}")
    cached = _FUNCTYPE_KINDS.get(ty)
    if cached is None:
        cached = _FUNCTYPE_KINDS[ty] = valtypes.kinds_of_functype(ty)
    return cached


def signature_of_functype(ty: wasmtime.FuncType, wants_caller: bool = False) -> Signature:
    params, results = kinds_of_functype(ty)
    return Signature(params, results, wants_caller, len(results) > 1)


def _describe(callback: Any) -> str:
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    if name is None:
        name = type(callback).__qualname__
    return str(name)


def callable_name(callback: Any) -> str:
    """A readable name for ``callback`` used in error messages."""
    if isinstance(callback, functools.partial):
        return f"partial({callable_name(callback.func)})"
    return _describe(callback)


def _is_caller(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, wasmtime.Caller)


def _value_of(annotation: Any, what: str) -> Value:
    """The wasm kind, or guest data, an annotation names; or a ``TypeError`` saying why not."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Guest):
            base = get_args(annotation)[0]
            if base is str:
                return GuestValue(meta, True)
            if base in (bytes, bytearray, memoryview):
                return GuestValue(meta, False)
            raise TypeError(f"{what}: Guest() marks str or bytes, not {base!r}")
    return _kind_of(annotation, what)


def _kind_of(annotation: Any, what: str) -> Kind:
    """The wasm kind an annotation names, or a ``TypeError`` saying why not."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Kind):
            return meta
        if isinstance(meta, Guest):
            raise TypeError(f"{what} is guest data ({annotation!r}); it stands for two wasm values, not one")
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    if annotation is wasmtime.Func:
        return Kind.FUNCREF
    args = get_args(annotation)
    if get_origin(annotation) in (typing.Union, getattr(types, "UnionType", None)) and set(args) == {
        wasmtime.Func,
        type(None),
    }:
        return Kind.FUNCREF
    raise TypeError(
        f"{what} is annotated {annotation!r}, which names no wasm value type; "
        "use int, float, bool, a wasmjit marker (i32, i64, f32, f64, v128, funcref, externref) "
        "or guest data (wasmjit.Str, wasmjit.Bytes)"
    )


def _results_of(annotation: Any, what: str) -> "Tuple[Tuple[Value, ...], bool]":
    """The result values an annotation names, and whether they come as a tuple."""
    if annotation is None or annotation is type(None):
        return (), False
    if annotation is tuple or annotation is typing.Tuple:
        raise TypeError(f"{what}: a bare tuple does not say which wasm results; write tuple[i32, ...kinds]")
    origin = get_origin(annotation)
    if origin in (tuple, typing.Tuple):
        args = get_args(annotation)
        if args == ((),):  # typing.Tuple[()]
            args = ()
        if args and args[-1] is Ellipsis:
            raise TypeError(f"{what}: a variable-length tuple[...] cannot name wasm results")
        return tuple(_value_of(arg, f"{what} item {i}") for i, arg in enumerate(args)), True
    return (_value_of(annotation, what),), False


_EMPTY = inspect.Parameter.empty
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class _Shape:
    """What the callable's own signature says, before any ``FuncType``."""

    name: str
    positional: Tuple[Tuple[str, Any], ...]  # (name, annotation or _EMPTY)
    required: int  # positional parameters without a default
    has_varargs: bool
    returns: Any  # annotation or _EMPTY
    has_varkw: bool = False
    unreadable: bool = False  # inspect.signature cannot read it (some builtins)


_SHAPES: "OrderedDict[Any, _Shape]" = OrderedDict()
_SHAPES_MAX = 1024


def _shape_key(callback: Callable[..., Any]) -> Any:
    """A cache key for what ``_compute_shape`` reads, or ``None`` if there is none.

    Functions made by one ``def`` or ``lambda`` share a code object; with
    equal annotations, defaults and keyword defaults they have one shape,
    however many function objects there are (closures in a loop, say).
    """
    target = getattr(callback, "__func__", callback)
    code = getattr(target, "__code__", None)
    try:
        annotations = getattr(target, "__annotations__", None) if code is not None else None
    except Exception:  # 3.14+ (PEP 649): evaluating a deferred annotation failed; _compute_shape says why
        return None
    if code is None or not isinstance(annotations, dict) or type(target) is not types.FunctionType:
        return None
    if hasattr(target, "__wrapped__") or hasattr(target, "__signature__"):
        return None  # inspect.signature follows these, not the code object
    try:
        key = (
            code,
            callback is not target,
            tuple(annotations.items()),
            len(target.__defaults__ or ()),
            tuple(target.__kwdefaults__ or ()),
            id(target.__globals__),
        )
        hash(key)
    except TypeError:  # an unhashable annotation
        return None
    return key


def _shape_of(callback: Callable[..., Any]) -> _Shape:
    key = _shape_key(callback)
    if key is not None:
        found = _SHAPES.get(key)
        if found is not None:
            return found
    shape = _compute_shape(callback)
    if key is not None:
        _SHAPES[key] = shape
        while len(_SHAPES) > _SHAPES_MAX:
            try:
                _SHAPES.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break
    return shape


def _compute_shape(callback: Callable[..., Any]) -> _Shape:
    name = callable_name(callback)
    target = getattr(callback, "__func__", callback)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(f"{name} is an async function; wasm calls are synchronous")
    if inspect.isgeneratorfunction(target):
        raise TypeError(f"{name} is a generator function; it would return a generator, not wasm results")
    try:
        # No eval_str: string annotations are resolved below without eval,
        # which interpreters that forbid compile() also allow.
        sig = inspect.signature(callback)
    except (ValueError, TypeError):
        # Builtins and some C callables have no introspectable signature.
        return _Shape(name, (), 0, True, _EMPTY, unreadable=True)
    except (NameError, AttributeError) as exc:
        # 3.14+ (PEP 649/749): annotations are evaluated here, on first use,
        # not when the function was defined.
        raise TypeError(f"cannot evaluate the annotations of {name}: {exc}") from None
    namespace = _namespace_of(callback)

    def resolved(annotation: Any, what: str) -> Any:
        while isinstance(annotation, str):
            try:
                annotation = resolve(annotation, namespace)
            except (NameError, AttributeError, SyntaxError, TypeError) as exc:
                raise TypeError(f"cannot resolve the annotation {annotation!r} of {what} of {name}: {exc}") from None
        return annotation

    positional = []
    required = 0
    has_varargs = False
    has_varkw = False
    for param in sig.parameters.values():
        if param.kind in _POSITIONAL:
            positional.append((param.name, resolved(param.annotation, f"parameter {param.name!r}")))
            if param.default is _EMPTY:
                required = len(positional)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            has_varargs = True
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            has_varkw = True
        elif param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is _EMPTY:
            raise TypeError(
                f"{name} has a required keyword-only parameter {param.name!r}; wasm passes only positional values"
            )
    # Calling a class returns an instance: ``__init__``'s ``-> None`` says nothing about that.
    returns = _EMPTY if inspect.isclass(callback) else resolved(sig.return_annotation, "the result")
    return _Shape(name, tuple(positional), required, has_varargs, returns, has_varkw)


def _namespace_of(callback: Any) -> Dict[str, Any]:
    """The globals string annotations of ``callback`` are resolved in."""
    target = callback
    for _ in range(100):  # unwrap partials, bound methods and decorators
        if isinstance(target, functools.partial):
            target = target.func
        elif hasattr(target, "__func__"):
            target = target.__func__
        elif hasattr(target, "__wrapped__"):
            target = target.__wrapped__
        else:
            break
    namespace = getattr(target, "__globals__", None)
    if namespace is None and not inspect.isroutine(target):
        call = next((vars(k)["__call__"] for k in type(target).__mro__ if "__call__" in vars(k)), None)
        namespace = getattr(call, "__globals__", None)
    return dict(namespace or {})


def infer(
    callback: Callable[..., Any],
    functype: Optional[wasmtime.FuncType] = None,
    access_caller: Optional[bool] = None,
) -> "Tuple[Signature, str]":
    """The signature of ``callback`` and its readable name.

    Annotations decide when there is no ``functype``; with one, the
    ``functype`` decides and every annotation present must agree with it.
    """
    if not callable(callback):
        raise TypeError(f"expected a callable, got {type(callback).__name__}")
    shape = _shape_of(callback)
    name = shape.name
    positional = list(shape.positional)
    required = shape.required

    wants_caller = False
    if positional and _is_caller(positional[0][1]):
        wants_caller = True
        positional.pop(0)
        required = max(required - 1, 0)
    if access_caller is not None:
        if access_caller is False and wants_caller:
            raise TypeError(f"{name} annotates its first parameter as Caller but access_caller=False")
        if access_caller and not wants_caller:
            if positional and positional[0][1] is _EMPTY:
                positional.pop(0)
                required = max(required - 1, 0)
            elif positional and not shape.has_varargs:
                raise TypeError(f"access_caller=True but the first parameter of {name} is not a Caller")
            wants_caller = True

    if functype is None:
        if shape.has_varkw and not positional:
            raise TypeError(
                f"cannot infer a wasm signature for {name}: it takes only **kwargs; pass type=wasmtime.FuncType(...)"
            )
        if shape.unreadable:
            raise TypeError(
                f"cannot infer a wasm signature for {name}: Python cannot read its signature "
                "(a builtin without introspection data); pass type=wasmtime.FuncType(...) or wrap it in a def"
            )
        if shape.has_varargs:
            raise TypeError(
                f"cannot infer a wasm signature for {name}: it takes *args; pass type=wasmtime.FuncType(...)"
            )
        params: List[Value] = []
        for pname, annotation in positional:
            if annotation is _EMPTY:
                raise TypeError(
                    f"parameter {pname!r} of {name} has no annotation; annotate it or pass type=wasmtime.FuncType(...)"
                )
            params.append(_value_of(annotation, f"parameter {pname!r} of {name}"))
        returns = None if shape.returns is _EMPTY else shape.returns
        results, as_tuple = _results_of(returns, f"the return annotation of {name}")
        return Signature.of_values(tuple(params), results, wants_caller, as_tuple), name

    params_t, results_t = kinds_of_functype(functype)
    # wasm fills the first positional parameters (guest data takes two wasm
    # values each); any others must have defaults.
    param_guests: List[Tuple[int, GuestValue]] = []
    flat = filled = 0
    for pname, annotation in positional:
        if flat >= len(params_t):
            break
        what = f"parameter {pname!r} of {name}"
        value = None if annotation is _EMPTY else _value_of(annotation, what)
        if isinstance(value, GuestValue):
            param_guests.append((flat, _guest_for(value, params_t[flat : flat + 2], what)))
            flat += 2
        else:
            if value is not None and value is not params_t[flat]:
                raise TypeError(f"{what} is annotated {value} but the FuncType says {params_t[flat]}")
            flat += 1
        filled += 1
    if (flat < len(params_t) and not shape.has_varargs) or filled < required:
        takes = str(len(positional)) if required == len(positional) else f"{required} to {len(positional)}"
        raise TypeError(f"{name} takes {takes} wasm parameter(s) but the FuncType has {len(params_t)}")
    as_tuple = len(results_t) > 1
    result_guests: Tuple[Tuple[int, GuestValue], ...] = ()
    if shape.returns is not _EMPTY:
        declared, annotated_tuple = _results_of(shape.returns, f"the return annotation of {name}")
        results, result_guests = _flatten(declared)
        if results != results_t:
            said = ", ".join(map(str, results)) or "none"
            expected = ", ".join(map(str, results_t)) or "none"
            raise TypeError(f"{name} returns ({said}) by its annotation but the FuncType says ({expected})")
        as_tuple = annotated_tuple or len(declared) > 1
    signature = Signature(params_t, results_t, wants_caller, as_tuple, tuple(param_guests), result_guests)
    return signature, name


def _guest_for(value: GuestValue, pair: "Tuple[Kind, ...]", what: str) -> GuestValue:
    """``value`` at two wasm parameters of a ``FuncType``: its address kind is theirs."""
    if len(pair) != 2 or pair[0] is not pair[1] or pair[0] not in (Kind.I32, Kind.I64):
        said = ", ".join(map(str, pair)) or "nothing"
        raise TypeError(f"{what} is guest data ({value}): an address and a length (two i32 or two i64), not {said}")
    return GuestValue(dataclasses.replace(value.guest, address=pair[0]), value.text)
