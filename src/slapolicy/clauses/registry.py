"""Clause kinds by name: built-ins, entry points and modules under ``policies/``."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterator

from slapolicy.clauses.base import ClauseKind
from slapolicy.clauses.guard import guard_kind
from slapolicy.errors import UnknownClauseKindError

ENTRY_POINT_GROUP = "slapolicy.clauses"
_NOT_KINDS = {"__init__", "base", "spec", "registry", "common", "counting", "targets", "guard"}


class ClauseRegistry:
    """Maps a kind name to its ``ClauseKind``; loads plug-ins on first use, not at import."""

    def __init__(self) -> None:
        self._kinds: dict[str, ClauseKind] = {}
        self._loaded = False

    def register(self, kind: type[ClauseKind] | ClauseKind, *, force: bool = False) -> None:
        if isinstance(kind, type) and inspect.isabstract(kind):
            # A kind missing part of the contract must not vanish from the registry.
            missing = ", ".join(sorted(getattr(kind, "__abstractmethods__", ())))
            raise TypeError(f"clause kind {kind.__module__}.{kind.__qualname__} does not "
                            f"implement {missing}")
        instance = kind() if isinstance(kind, type) else kind
        if not type(instance).__module__.startswith("slapolicy.clauses."):
            guard_kind(instance)  # custom code: it may fail, but never end the process
        if instance.name in self._kinds and not force:
            existing = type(self._kinds[instance.name])
            if existing is not type(instance) and not _same_plugin(existing, type(instance)):
                raise ValueError(
                    f"clause kind {instance.name!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}; pass force=True to replace it"
                )
        self._kinds[instance.name] = instance

    def get(self, name: str) -> ClauseKind:
        self._load()
        try:
            return self._kinds[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._kinds), n=1)
            raise UnknownClauseKindError(
                f"unknown clause kind {name!r}",
                hint=f"did you mean {close[0]!r}?" if close
                else f"known kinds: {', '.join(sorted(self._kinds))}",
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[ClauseKind]:
        self._load()
        return iter(self._kinds[n] for n in sorted(self._kinds))

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        # Built-in kinds: every module of this package defines one or more ClauseKind classes.
        import pkgutil

        import slapolicy.clauses as package

        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name in _NOT_KINDS:
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, ClauseKind) and obj.__module__ == module.__name__:
                    self.register(obj)
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self.register(ep.load())


def _same_plugin(old: type, new: type) -> bool:
    """A plug-in file edited since it was first loaded replaces its own kinds."""
    prefix = "slapolicy_plugin_"
    a, b = old.__module__, new.__module__
    return a.startswith(prefix) and b.startswith(prefix) and a.rsplit("_", 1)[0] == b.rsplit("_", 1)[0]


registry = ClauseRegistry()


def register_clause(kind: type[ClauseKind]) -> type[ClauseKind]:
    """Class decorator for plug-in kinds: ``@register_clause class MyKind(ClauseKind): ...``."""
    registry.register(kind)
    return kind
