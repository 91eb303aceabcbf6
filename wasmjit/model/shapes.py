"""Which Python values stand for a WIT type: stock shapes, or the user's classes.

A :class:`Shape` sits beside every node of a :mod:`~wasmjit.model.wit` type.
The default (``Shape()``) is wasmtime-py's convention: ``Record`` objects,
``str`` enums, ``set`` flags, ``Variant`` where cases cannot be told apart by
their Python class, and stock's option/result convention.  With annotations
(a ``signature=`` for typed calls, the host function's own annotations for
callbacks), :func:`shape_of` matches the user's classes to the WIT type once
and fails with an error naming what does not match:

* ``record`` <- a dataclass or ``NamedTuple`` (fields matched by name,
  ``kebab-case`` = ``snake_case``);
* ``enum`` <- an ``enum.Enum`` (members matched by name, or by value where
  the values are the case names);
* ``flags`` <- an ``enum.Flag`` (members matched by name);
* ``option<T>`` <- ``Optional[T]`` (:class:`Some` wraps the payload where
  options nest);
* ``result<T, E>`` <- :class:`Ok` / :class:`Err`;
* ``variant`` <- a ``Union`` of one class per case (matched by class name,
  ``kebab-case`` = ``CamelCase``; a case with a payload has ``.value``).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, Optional, Tuple, TypeVar

from . import wit

__all__ = ["Shape", "ShapeError", "Some", "Ok", "Err", "shape_of", "STOCK"]

T = TypeVar("T")
E = TypeVar("E")


class ShapeError(TypeError):
    """A Python annotation does not match the WIT type it stands for."""


# Some, Ok and Err are made once per value crossing, so they are slotted frozen dataclasses whose
# __init__ stores the one field through its slot's own descriptor (_fast_init): the generated
# frozen __init__ goes through object.__setattr__, and reading a slot is faster than reading an
# instance __dict__ behind a class-level default.  Equality, hashing, repr, match and replace()
# are the dataclass's own; assigning the field still raises FrozenInstanceError; pickling and
# copying go through __getstate__/__setstate__ (a frozen class refuses the default setattr).

_C = TypeVar("_C", bound=type)


def _fast_init(cls: _C) -> _C:
    """Give a slotted value class ``cls`` (one ``value`` field) an ``__init__`` and pickling that
    store the field through the slot's descriptor: what ``cls.__init__`` does, faster."""
    store = cls.__dict__["value"].__set__
    reference = cls.__init__  # type: ignore[misc]
    if reference.__defaults__:

        def __init__(self: Any, value: Any = None) -> None:
            store(self, value)

    else:

        def __init__(self: Any, value: Any) -> None:  # type: ignore[misc]
            store(self, value)

    # A tuple: pickle and copy skip __setstate__ for a state of None (Ok(None) would lose its field).
    def __getstate__(self: Any) -> Any:
        return (self.value,)

    def __setstate__(self: Any, state: Any) -> None:
        (value,) = state
        store(self, value)

    __init__.__doc__, __init__.__annotations__ = reference.__doc__, reference.__annotations__
    for function in (__init__, __getstate__, __setstate__):
        function.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
        function.__module__ = cls.__module__
        setattr(cls, function.__name__, function)
    return cls


@_fast_init
@dataclass(frozen=True, init=False)
class Some(Generic[T]):
    """The payload of an ``option`` whose payload can itself be ``None`` (``option<option<T>>``)."""

    __slots__ = ("__weakref__", "value")
    value: T

    def __init__(self, value: T) -> None:
        object.__setattr__(self, "value", value)


@_fast_init
@dataclass(frozen=True, init=False)
class Ok(Generic[T]):
    """The ``ok`` case of a WIT ``result`` (``value`` is ``None`` for ``result<_, E>``)."""

    __slots__ = ("__weakref__", "value")
    value: T

    def __init__(self, value: T = None) -> None:  # type: ignore[assignment]
        object.__setattr__(self, "value", value)


@_fast_init
@dataclass(frozen=True, init=False)
class Err(Generic[E]):
    """The ``err`` case of a WIT ``result`` (``value`` is ``None`` for ``result<T>``)."""

    __slots__ = ("__weakref__", "value")
    value: E

    def __init__(self, value: E = None) -> None:  # type: ignore[assignment]
        object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class Shape:
    """The Python side of one WIT node (``py=None`` and ``kind=""``: wasmtime-py's shape)."""

    kind: str = ""
    """``""`` (stock), ``record``, ``enum``, ``flags``, ``variant``, ``option``, ``result``, ``prim``."""
    py: Any = None
    """The user's class (record, enum, flags) or the case classes (variant)."""
    attrs: Tuple[str, ...] = ()
    """Record: the attribute read for each WIT field, in WIT order."""
    py_members: Tuple[Any, ...] = ()
    """Enum/flags: the member standing for each WIT case, in WIT order."""
    nested: bool = False
    """Option: the payload is wrapped in :class:`Some`."""
    children: Tuple["Shape", ...] = field(default=())

    def child(self, index: int) -> "Shape":
        return self.children[index] if index < len(self.children) else STOCK

    @property
    def is_stock(self) -> bool:
        return self.kind == "" and all(c.is_stock for c in self.children)


STOCK = Shape()


def _origin(annotation: Any) -> Any:
    return typing.get_origin(annotation)


def _args(annotation: Any) -> Tuple[Any, ...]:
    return typing.get_args(annotation)


def _strip_optional(annotation: Any) -> Tuple[bool, Any]:
    if _origin(annotation) in (typing.Union, _union_type()):
        args = [a for a in _args(annotation) if a is not type(None)]
        if len(args) < len(_args(annotation)):
            if len(args) == 1:
                return True, args[0]
            return True, typing.Union[tuple(args)]
    return False, annotation


def _union_type() -> Any:
    import types

    return types.UnionType


def _record_fields(cls: type) -> Optional[Tuple[str, ...]]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
    fields = getattr(cls, "_fields", None)
    if isinstance(cls, type) and issubclass(cls, tuple) and fields is not None:
        return tuple(fields)
    return None


def _where(path: str) -> str:
    return f" (at {path})" if path else ""


def shape_of(ty: Optional[wit.WitType], annotation: Any, path: str = "") -> Shape:
    """Match ``annotation`` against ``ty``; ``Shape()`` where the annotation says nothing."""
    if ty is None or annotation is None or annotation is Any or annotation is typing.Any:
        return STOCK
    if isinstance(annotation, (str, typing.ForwardRef)):
        text = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        raise ShapeError(
            f"the annotation {text!r} for {wit.wit_text(ty)} is a string that could not be resolved"
            f" (a class defined inside a function?){_where(path)}"
        )
    import inspect

    if annotation is inspect.Parameter.empty:
        return STOCK
    if isinstance(ty, wit.Option):
        optional, inner = _strip_optional(annotation)
        if not optional:
            raise ShapeError(f"{wit.wit_text(ty)} needs Optional[...], not {_name(annotation)}{_where(path)}")
        payload = ty.payload
        nested = isinstance(payload, wit.Option)
        if nested and _origin(inner) is not Some and inner is not Some:
            raise ShapeError(f"{wit.wit_text(ty)} nests options: annotate Optional[Some[...]]{_where(path)}")
        if nested:
            args = _args(inner)
            inner = args[0] if args else None
        return Shape("option", nested=nested, children=(STOCK, shape_of(payload, inner, path + ".some")))
    if isinstance(ty, wit.Result):
        origin = _origin(annotation)
        parts = [annotation] if origin not in (typing.Union, _union_type()) else list(_args(annotation))
        ok_ann: Any = None
        err_ann: Any = None
        for part in parts:
            base = _origin(part) or part
            if base is Ok:
                ok_ann = (_args(part) or (None,))[0]
            elif base is Err:
                err_ann = (_args(part) or (None,))[0]
            else:
                raise ShapeError(
                    f"{wit.wit_text(ty)} is annotated Union[Ok[...], Err[...]], not {_name(annotation)}{_where(path)}"
                )
        return Shape(
            "result", children=(shape_of(ty.ok, ok_ann, path + ".ok"), shape_of(ty.err, err_ann, path + ".err"))
        )
    if isinstance(ty, wit.Record):
        fields = _record_fields(annotation) if isinstance(annotation, type) else None
        if fields is None:
            if _origin(annotation) is None and annotation in (object,):
                return STOCK
            raise ShapeError(
                f"{wit.wit_text(ty)} needs a dataclass or NamedTuple, not {_name(annotation)}{_where(path)}"
            )
        wanted = [wit.python_name(n) for n, _ in ty.fields]
        if sorted(fields) != sorted(wanted):
            raise ShapeError(
                f"{annotation.__name__} has fields {', '.join(fields)}; the WIT record has"
                f" {', '.join(wanted)}{_where(path)}"
            )
        if tuple(fields) != tuple(wanted):
            raise ShapeError(
                f"{annotation.__name__} declares its fields in the order {', '.join(fields)};"
                f" the WIT record's order is {', '.join(wanted)}{_where(path)}"
            )
        hints = _hints(annotation)
        children = tuple(
            shape_of(t, hints.get(wit.python_name(n)), f"{path}.{wit.python_name(n)}") for n, t in ty.fields
        )
        return Shape("record", py=annotation, attrs=tuple(wanted), children=children)
    if isinstance(ty, (wit.Enum, wit.Flags)):
        want_flag = isinstance(ty, wit.Flags)
        fits = isinstance(annotation, type) and (
            issubclass(annotation, enum.Flag)
            if want_flag
            else issubclass(annotation, enum.Enum) and not issubclass(annotation, enum.Flag)
        )
        if not fits:
            what = "an enum.Flag" if want_flag else "an enum.Enum"
            raise ShapeError(f"{wit.wit_text(ty)} needs {what}, not {_name(annotation)}{_where(path)}")
        members = list(annotation.__members__.values())
        matched = []
        for case in ty.names:
            found = [
                m
                for m in members
                if m.name.lower() == wit.python_name(case).lower() or (not want_flag and m.value == case)
            ]
            if not found:
                raise ShapeError(f"{annotation.__name__} has no member for the WIT case {case!r}{_where(path)}")
            matched.append(found[0])
        if len({id(m) for m in matched}) != len(matched):
            raise ShapeError(f"{annotation.__name__} maps two WIT cases to one member{_where(path)}")
        extra = [m.name for m in members if all(m is not x for x in matched)]
        if extra and not want_flag:
            raise ShapeError(f"{annotation.__name__} has members with no WIT case: {', '.join(extra)}{_where(path)}")
        return Shape("flags" if want_flag else "enum", py=annotation, py_members=tuple(matched))
    if isinstance(ty, wit.Variant):
        origin = _origin(annotation)
        classes = list(_args(annotation)) if origin in (typing.Union, _union_type()) else [annotation]
        if not all(isinstance(c, type) for c in classes):
            raise ShapeError(f"{wit.wit_text(ty)} needs a Union of case classes, not {_name(annotation)}{_where(path)}")
        by_name = {c.__name__.lower(): c for c in classes}
        ordered = []
        for case, _payload in ty.cases:
            cls = by_name.get(wit.class_name(case).lower()) or by_name.get(wit.python_name(case).replace("_", ""))
            if cls is None:
                raise ShapeError(f"no class in {_name(annotation)} for the WIT case {case!r}{_where(path)}")
            ordered.append(cls)
        if len(set(ordered)) != len(classes):
            raise ShapeError(f"{_name(annotation)} has classes that match no WIT case{_where(path)}")
        children = tuple(
            shape_of(t, _hints(cls).get("value"), f"{path}.{case}") if t is not None else STOCK
            for cls, (case, t) in zip(ordered, ty.cases, strict=True)
        )
        return Shape("variant", py=tuple(ordered), children=children)
    if isinstance(ty, wit.List):
        if ty.element == wit.Prim("u8"):
            return STOCK
        args = _args(annotation)
        return Shape("", children=(shape_of(ty.element, args[0] if args else None, path + "[]"),))
    if isinstance(ty, wit.Tuple_):
        args = _args(annotation)
        if args and len(args) == len(ty.elements):
            return Shape(
                "",
                children=tuple(
                    shape_of(t, a, f"{path}[{i}]") for i, (t, a) in enumerate(zip(ty.elements, args, strict=True))
                ),
            )
        return STOCK
    return STOCK


def _hints(cls: Any) -> "dict[str, Any]":
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return dict(getattr(cls, "__annotations__", {}))


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
