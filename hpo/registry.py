"""One registry for every seam: names → factories, with one error style.

Samplers, surrogates, schedulers, executors and benchmark suites are each a
:class:`Registry`. A registry resolves three spellings of a plug-in:

- a **name** plus keyword options: ``make("asha", reduction_factor=3)``;
- a **mapping** ``{"name": ..., "options": {...}}`` (the config-file form);
- an **instance** of the seam's base class, used as is (options are refused).

Unknown names raise :class:`hpo.errors.UnknownNameError` listing the valid names;
unknown options raise the seam's error class (``SamplerError``,
``SurrogateError``, ``ConfigError``) listing the valid options. Factories may be
registered lazily as ``"module:attribute"`` so that ``import hpo`` never imports
torch, Optuna or Ray. :func:`lazy_exports` builds a module ``__getattr__`` for
the same purpose.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any, Generic, TypeVar

from hpo.errors import ConfigError, HpoError, UnknownNameError

__all__ = ["Registry", "accepted_options", "check_options", "lazy_exports", "load_object"]

T = TypeVar("T")


def load_object(target: str) -> Any:
    """The object at ``"package.module:attribute"`` (imported now)."""
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ConfigError(f"expected 'module:attribute', but got {target!r}")
    return getattr(import_module(module), attribute)


def accepted_options(target: Callable[..., Any], skip: Iterable[str] = ("self",)) -> set[str] | None:
    """The keyword names ``target`` accepts, or None when it takes ``**kwargs`` (anything goes)."""
    function = target.__init__ if inspect.isclass(target) else target
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    skipped = set(skip)
    return {name for name, p in params.items() if name not in skipped
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def check_options(owner: str, target: Callable[..., Any], options: Mapping[str, Any],
                  error: type[HpoError] = ConfigError, skip: Iterable[str] = ("self",)) -> None:
    """Raise ``error`` naming the options ``target`` does not take and the ones it does."""
    accepted = accepted_options(target, skip)
    if accepted is None:
        return
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise error(f"{owner}: unknown option(s) {unknown}; valid options: {sorted(accepted)}")


class Registry(Generic[T]):
    """Names → factories for one seam.

    Args:
        kind: what the registry holds, as the user writes it (``"sampler"``,
            ``"backend"``); it starts every error message.
        base: the seam's base class; an instance of it is used as is.
        error: the error class for bad options and malformed specs.

    ``register(name, factory, check=True)``: with ``check`` the options are checked
    against the factory's signature before it is called (a factory taking
    ``**options`` checks its own).
    """

    def __init__(self, kind: str, base: type[T] | None, error: type[HpoError] = ConfigError) -> None:
        self.kind = kind
        self.base = base
        self.error = error
        self._factories: dict[str, Callable[..., T] | str] = {}
        self._checked: dict[str, bool] = {}

    def register(self, name: str, factory: Callable[..., T] | str, *, check: bool = True) -> None:
        """Make ``name`` resolvable; ``factory`` is a callable or a lazy ``"module:attribute"``."""
        if not isinstance(name, str) or not name:
            raise self.error(f"register {self.kind}: name must be a non-empty string, but got {name!r}")
        if not (callable(factory) or isinstance(factory, str)):
            raise self.error(f"register {self.kind} {name!r}: expected a callable or 'module:attribute', "
                             f"but got {factory!r}")
        self._factories[name] = factory
        self._checked[name] = check

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (imported now if lazy)."""
        if not isinstance(name, str) or name not in self._factories:
            raise UnknownNameError(f"{self.kind}: unknown name {name!r}; valid names: {self.names()}")
        factory = self._factories[name]
        if isinstance(factory, str):
            factory = load_object(factory)
            self._factories[name] = factory
        return factory

    def make(self, spec: str | T | Mapping[str, Any], **options: Any) -> T:
        """Build from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
        if self.base is not None and isinstance(spec, self.base):
            if options:
                raise self.error(f"{self.kind}: options {sorted(options)} cannot be applied to an instance {spec!r}")
            return spec
        if isinstance(spec, Mapping):
            extra = sorted(set(spec) - {"name", "options"})
            if extra or "name" not in spec:
                raise self.error(f"{self.kind}: a mapping needs 'name' and optional 'options', "
                                 f"but got keys {sorted(spec)}")
            opts = spec.get("options") or {}
            if not isinstance(opts, Mapping):
                raise self.error(f"{self.kind}.options: expected a mapping, but got {opts!r}")
            return self.make(spec["name"], **{**opts, **options})
        if not isinstance(spec, str):
            raise self.error(f"{self.kind}: expected a name, a mapping or an instance, but got {spec!r}")
        factory = self.factory(spec)
        if self._checked[spec]:
            check_options(f"{self.kind} {spec!r}", factory, options, self.error)
        return factory(**options)


def lazy_exports(module_name: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``exports[name]`` on first access.

    ``exports`` maps an attribute to the module that defines it; a value that is a
    module path itself (the attribute is a submodule) is returned as the module.
    """

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = import_module(source)
        if source.rsplit(".", 1)[-1] == name and not hasattr(module, name):
            return module
        return getattr(module, name)

    return __getattr__
