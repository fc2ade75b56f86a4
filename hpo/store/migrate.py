"""Alembic migrations of the store, run programmatically.

``hpo db upgrade --storage URL`` and every first open of a store call
:func:`upgrade`; ``hpo db current`` prints the revision.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

__all__ = ["alembic_config", "upgrade", "known_revisions", "head_revision"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one locked transaction."""
    from hpo.store.engine import write_connection

    cfg = alembic_config()
    with write_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
