"""hpo and Optuna together (``optuna`` is imported only when one of these is used).

- :class:`HpoStorage` (``hpo.integrations.optuna.storage``): hpo's store as an Optuna storage;
- ``hpo.integrations.optuna_io``: ``hpo import optuna`` / ``hpo export NAME --format optuna``.
"""

from __future__ import annotations

from hpo.registry import lazy_exports

__all__ = ["HpoStorage"]

__getattr__ = lazy_exports(__name__, {"HpoStorage": "hpo.integrations.optuna.storage"})
