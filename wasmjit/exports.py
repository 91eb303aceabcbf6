"""Every export of an instance, ready to use: ``wasmjit.exports(store, instance)``.

::

    ex = wasmjit.exports(store, instance)
    ex.add(1, 2)                 # a typed caller, named "add"
    ex.memory.read(0, 16)        # a wasmjit.Memory
    ex["do-work"]()              # any export name, with []

Functions become typed callers (:func:`wasmjit.typed`, named after their
export, types read from the module), memories :class:`wasmjit.Memory`
objects, and globals and tables stay wasmtime-py's objects.  Each is built
on first access and kept.

The object has no public attributes of its own, so that no export name is
hidden behind one: ``ex.keys`` is the export ``keys``.  It is a read-only
mapping through the protocols only: ``ex[name]``, ``name in ex``,
``len(ex)``, ``iter(ex)`` (the names, in export order) and ``dir(ex)``.
"""

from __future__ import annotations

import difflib
import keyword
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import wasmtime

from .boundary import wasmtime_py
from .boundary.failures import check_store
from .calls import store_id, typed
from .memory import Memory

__all__ = ["Exports", "exports"]


_REPR_NAMES = 8
_LISTED_WHEN_MISSING = 12


class _State:
    """What an :class:`Exports` object knows; kept apart so that no export name is hidden."""

    __slots__ = ("backend", "dynamic_code", "externs", "lock", "store")

    def __init__(
        self,
        store: wasmtime.Store,
        externs: Dict[str, Any],
        dynamic_code: Optional[bool],
        backend: Optional[str],
    ) -> None:
        self.store = store
        self.externs = externs
        self.dynamic_code = dynamic_code
        self.backend = backend
        self.lock = threading.Lock()

    def build(self, name: str) -> Any:
        extern = self.externs[name]
        if isinstance(extern, wasmtime.Func):
            return typed(self.store, extern, name=name, dynamic_code=self.dynamic_code, backend=self.backend)
        if isinstance(extern, wasmtime.Memory):
            return Memory(self.store, extern)
        return extern

    def missing(self, name: object) -> str:
        """The message for a name that is not an export: it, and the exports it may have meant."""
        names = list(self.externs)
        message = f"this instance has no export named {name!r}"
        if not isinstance(name, str):
            return message
        close = _close_matches(name, names)
        if close:
            return f"{message}; close matches: {', '.join(_how_to_get(n) for n in close)}"
        if not names:
            return f"{message}: it exports nothing"
        if len(names) <= _LISTED_WHEN_MISSING:
            return f"{message}; its exports are {', '.join(_how_to_get(n) for n in names)}"
        return f"{message} (it has {len(names)} exports: list(exports) names them)"


def _close_matches(name: str, names: List[str]) -> List[str]:
    """Exports ``name`` may have meant: same name but for case or ``_``/``-``, then similar ones."""
    folded = name.casefold().replace("-", "_")
    same = [n for n in names if n.casefold().replace("-", "_") == folded]
    similar = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return list(dict.fromkeys(same + similar))[:3]


def _how_to_get(name: str) -> str:
    """``'add'``, or ``'do-work' (exports['do-work'])`` for a name attribute access cannot reach."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return repr(name)
    return f"{name!r} (exports[{name!r}])"


class Exports:
    """The exports of one instance: what :func:`exports` returns.

    ``ex.name`` for names that are Python identifiers, ``ex["any-name"]``
    for every name; ``len()``, iteration (the names, in export order),
    ``in`` and ``dir()`` cover every export.  Functions are typed callers
    named after their export, memories :class:`wasmjit.Memory` objects,
    globals and tables wasmtime-py's objects; each is built on first access
    and kept.  A name that is not an export raises ``AttributeError`` (for
    ``ex.name``) or ``KeyError`` (for ``ex[name]``) naming it and the
    exports it may have meant.
    """

    __slots__ = ("_Exports__state", "__dict__")

    def __init__(
        self,
        store: wasmtime.Store,
        instance: wasmtime.Instance,
        *,
        dynamic_code: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> None:
        store = check_store(store)
        if not isinstance(instance, wasmtime.Instance):
            raise TypeError(f"expected a wasmtime.Instance, got {type(instance).__name__}")
        handle = wasmtime_py.instance_handle(instance)
        if int(handle.store_id) != store_id(store):
            # wasmtime would abort the process when the exports are listed.
            raise ValueError("this wasmtime.Instance belongs to another store")
        externs = dict(instance.exports(store).items())
        object.__setattr__(self, "_Exports__state", _State(store, externs, dynamic_code, backend))

    # What is exported -------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        built = self.__dict__
        try:
            return built[name]
        except KeyError:
            pass
        except TypeError:  # unhashable
            raise TypeError(f"export names are str, not {type(name).__name__}") from None
        state: _State = self.__state
        if name not in state.externs:
            if not isinstance(name, str):
                raise TypeError(f"export names are str, not {type(name).__name__}")
            raise KeyError(state.missing(name))
        with state.lock:
            found = built.get(name)
            if found is None:
                # Kept in the instance dictionary: the next ``ex.name`` finds it there directly.
                found = built[name] = state.build(name)
        return found

    def __getattr__(self, name: str) -> Any:
        # Only called when ordinary lookup fails: the first access to an export by attribute.
        try:
            state: _State = object.__getattribute__(self, "_Exports__state")
        except AttributeError:  # not initialised (copy, pickle)
            raise AttributeError(name) from None
        if name in state.externs:
            return self[name]
        # ``obj`` without ``name``: Python would otherwise append its own "Did you mean" to ours.
        raise AttributeError(state.missing(name), obj=self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the exports of an instance are read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"the exports of an instance are read-only: cannot delete {name!r}")

    def __contains__(self, name: object) -> bool:
        return name in self.__state.externs

    def __iter__(self) -> Iterator[str]:
        return iter(self.__state.externs)

    def __len__(self) -> int:
        return len(self.__state.externs)

    def __dir__(self) -> List[str]:
        return list(self.__state.externs)

    def _ipython_key_completions_(self) -> List[str]:
        """IPython completes ``ex["...`` with every export name, those with dashes included."""
        return list(self.__state.externs)

    def __repr__(self) -> str:
        names = list(self.__state.externs)
        shown = ", ".join(names[:_REPR_NAMES])
        more = f", ... ({len(names) - _REPR_NAMES} more)" if len(names) > _REPR_NAMES else ""
        return f"<wasmjit.Exports {shown}{more}>"

    def __reduce__(self) -> Tuple[Any, ...]:
        raise TypeError("the exports of an instance cannot be pickled or copied")


def exports(
    store: wasmtime.Store,
    instance: wasmtime.Instance,
    *,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> Exports:
    """Every export of ``instance`` (in ``store``), ready to use.

    ``ex = wasmjit.exports(store, instance)``: ``ex.add(1, 2)`` calls the
    exported function ``add`` through a typed caller (types read from the
    module, named ``add``: errors, ``repr()`` and ``help()`` show that
    name); ``ex.memory`` is a :class:`wasmjit.Memory`; globals and tables
    are wasmtime-py's ``Global`` and ``Table``.  ``ex["name-with-dashes"]``
    reaches any name.  ``dir(ex)``, ``len(ex)`` and ``iter(ex)`` list
    every export; each is built on first access and kept.

    ``dynamic_code=`` and ``backend=`` choose the backend of the typed
    callers, as for :func:`wasmjit.typed`.  For guest data
    (``wasmjit.Str``, ...), call :func:`wasmjit.typed` with ``signature=``
    and ``instance=``.

    Raises ``ValueError`` if ``store`` is closed or ``instance`` belongs to
    another store.
    """
    return Exports(store, instance, dynamic_code=dynamic_code, backend=backend)
