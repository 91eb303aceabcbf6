"""WIT types as values: the description every component plan starts from.

wasmtime-py describes a component function's type with live objects that
read their structure through FFI on every access (``RecordType.fields``
asks wasmtime each time).  wasmjit reads a type *once* into the frozen,
hashable tree below, so that plans can be cached per WIT type and compared
by value, and renders it back as WIT text for messages and stubs.

Resources are the exception: their identity is a runtime object (a
``ResourceType``), so a :class:`Resource` node keeps wasmtime-py's own
``ValType`` to convert with (values pass through as wasmtime-py's resource
objects, exactly as stock does) and compares by that object's identity.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union

__all__ = [
    "Prim",
    "String",
    "List",
    "Record",
    "Tuple_",
    "Variant",
    "Enum",
    "Option",
    "Result",
    "Flags",
    "Resource",
    "WitType",
    "FuncType",
    "PRIMS",
    "PRIM_CODES",
    "NUMBERS",
    "children",
    "contains_resource",
    "from_wasmtime",
    "func_type_from_wasmtime",
    "python_name",
    "wit_text",
]


@dataclass(frozen=True)
class Prim:
    """``bool``, ``s8``..``u64``, ``f32``, ``f64`` or ``char``."""

    name: str


PRIMS = ("bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char")

#: The ``struct`` code of each primitive's payload in a ``val_t`` (``char``: its code point).
PRIM_CODES = {
    "bool": "?",
    "s8": "b",
    "u8": "B",
    "s16": "h",
    "u16": "H",
    "s32": "i",
    "u32": "I",
    "s64": "q",
    "u64": "Q",
    "f32": "f",
    "f64": "d",
    "char": "I",
}

#: The primitives that are numbers (``struct`` converts them without a per-value check of ours).
NUMBERS = ("s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64")


@dataclass(frozen=True)
class String:
    pass


@dataclass(frozen=True)
class List:
    element: "WitType"


@dataclass(frozen=True)
class Record:
    fields: "Tuple[Tuple[str, WitType], ...]"


@dataclass(frozen=True)
class Tuple_:
    elements: "Tuple[WitType, ...]"


@dataclass(frozen=True)
class Variant:
    cases: "Tuple[Tuple[str, Optional[WitType]], ...]"


@dataclass(frozen=True)
class Enum:
    names: "Tuple[str, ...]"


@dataclass(frozen=True)
class Option:
    payload: "WitType"


@dataclass(frozen=True)
class Result:
    ok: "Optional[WitType]"
    err: "Optional[WitType]"


@dataclass(frozen=True)
class Flags:
    names: "Tuple[str, ...]"


@dataclass(frozen=True, eq=False)
class Resource:
    """``own<T>`` or ``borrow<T>``: converted by wasmtime-py's own ``ValType``."""

    own: bool
    stock: Any = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and other.own == self.own and other.stock is self.stock

    def __hash__(self) -> int:
        return hash((self.own, id(self.stock)))


WitType = Union[Prim, String, List, Record, Tuple_, Variant, Enum, Option, Result, Flags, Resource]


def children(ty: "WitType") -> "Tuple[WitType, ...]":
    """The types directly inside ``ty`` (payloads that are absent left out)."""
    if isinstance(ty, List):
        return (ty.element,)
    if isinstance(ty, Record):
        return tuple(t for _, t in ty.fields)
    if isinstance(ty, Tuple_):
        return ty.elements
    if isinstance(ty, Variant):
        return tuple(t for _, t in ty.cases if t is not None)
    if isinstance(ty, Option):
        return (ty.payload,)
    if isinstance(ty, Result):
        return tuple(t for t in (ty.ok, ty.err) if t is not None)
    return ()


def contains_resource(ty: "Optional[WitType]") -> bool:
    """Whether an ``own``/``borrow`` stands anywhere in ``ty``."""
    if ty is None:
        return False
    return isinstance(ty, Resource) or any(contains_resource(t) for t in children(ty))


@dataclass(frozen=True)
class FuncType:
    """A component function's type: named parameters and at most one result."""

    params: "Tuple[Tuple[str, WitType], ...]"
    result: "Optional[WitType]"

    @property
    def uses_resources(self) -> bool:
        """An ``own``/``borrow`` stands somewhere in a parameter or the result."""
        return any(contains_resource(t) for _, t in self.params) or contains_resource(self.result)

    def __str__(self) -> str:
        params = ", ".join(f"{name}: {wit_text(ty)}" for name, ty in self.params)
        if self.result is None:
            return f"func({params})"
        return f"func({params}) -> {wit_text(self.result)}"


# From wasmtime-py ---------------------------------------------------------------------

_STOCK_PRIMS = {
    "Bool": "bool",
    "S8": "s8",
    "U8": "u8",
    "S16": "s16",
    "U16": "u16",
    "S32": "s32",
    "U32": "u32",
    "S64": "s64",
    "U64": "u64",
    "F32": "f32",
    "F64": "f64",
    "Char": "char",
}


def from_wasmtime(ty: Any) -> WitType:
    """The WIT type of one of wasmtime-py's component ``ValType`` objects (read once)."""
    from wasmtime import component as c

    name = type(ty).__name__
    if name in _STOCK_PRIMS:
        return Prim(_STOCK_PRIMS[name])
    if isinstance(ty, c.String):
        return String()
    if isinstance(ty, c.ListType):
        return List(from_wasmtime(ty.element))
    if isinstance(ty, c.RecordType):
        return Record(tuple((field_name, from_wasmtime(t)) for field_name, t in ty.fields))
    if isinstance(ty, c.TupleType):
        return Tuple_(tuple(from_wasmtime(t) for t in ty.elements))
    if isinstance(ty, c.VariantType):
        return Variant(tuple((case, None if t is None else from_wasmtime(t)) for case, t in ty.cases))
    if isinstance(ty, c.EnumType):
        return Enum(tuple(ty.names))
    if isinstance(ty, c.OptionType):
        return Option(from_wasmtime(ty.payload))
    if isinstance(ty, c.ResultType):
        ok, err = ty.ok, ty.err
        return Result(None if ok is None else from_wasmtime(ok), None if err is None else from_wasmtime(err))
    if isinstance(ty, c.FlagsType):
        return Flags(tuple(ty.names))
    if isinstance(ty, (c.OwnType, c.BorrowType)):
        return Resource(isinstance(ty, c.OwnType), ty)
    raise TypeError(f"wasmjit.component does not handle the WIT type {name} (error-context, future, stream, map)")


def func_type_from_wasmtime(fty: Any) -> FuncType:
    """The :class:`FuncType` of a wasmtime-py component ``FuncType`` (read once)."""
    params = tuple((name, from_wasmtime(ty)) for name, ty in fty.params)
    result = fty.result
    return FuncType(params, None if result is None else from_wasmtime(result))


# Names and text ----------------------------------------------------------------------------


def python_name(wit_name: str) -> str:
    """``kebab-case`` -> ``snake_case``; a Python keyword gets a trailing ``_``.

    Hard keywords only: soft keywords (``match``, ``type``...) are valid names,
    and their list grows with Python versions - a name must not.
    """
    name = wit_name.replace("-", "_")
    if keyword.iskeyword(name):
        name += "_"
    return name


def class_name(wit_name: str) -> str:
    """``kebab-case`` -> ``CamelCase`` (for stub classes)."""
    return "".join(part[:1].upper() + part[1:] for part in wit_name.split("-")) or "Anonymous"


def wit_text(ty: Optional[WitType]) -> str:
    """``ty`` written in WIT syntax (structural, anonymous types spelled out)."""
    if ty is None:
        return "_"
    if isinstance(ty, Prim):
        return ty.name
    if isinstance(ty, String):
        return "string"
    if isinstance(ty, List):
        return f"list<{wit_text(ty.element)}>"
    if isinstance(ty, Record):
        return "record { " + ", ".join(f"{n}: {wit_text(t)}" for n, t in ty.fields) + " }"
    if isinstance(ty, Tuple_):
        return "tuple<" + ", ".join(wit_text(t) for t in ty.elements) + ">"
    if isinstance(ty, Variant):
        cases = ", ".join(n if t is None else f"{n}({wit_text(t)})" for n, t in ty.cases)
        return "variant { " + cases + " }"
    if isinstance(ty, Enum):
        return "enum { " + ", ".join(ty.names) + " }"
    if isinstance(ty, Option):
        return f"option<{wit_text(ty.payload)}>"
    if isinstance(ty, Result):
        if ty.ok is None and ty.err is None:
            return "result"
        if ty.err is None:
            return f"result<{wit_text(ty.ok)}>"
        return f"result<{wit_text(ty.ok)}, {wit_text(ty.err)}>"
    if isinstance(ty, Flags):
        return "flags { " + ", ".join(ty.names) + " }"
    return ("own" if ty.own else "borrow") + "<resource>"
