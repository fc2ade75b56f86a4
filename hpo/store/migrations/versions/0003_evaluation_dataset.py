"""Evaluations name their data set (``evaluations.dataset``, nullable), for data-set protocols.

Revision ID: 0003_eval_dataset
Revises: 0002_ids_leases

Why: a :class:`hpo.protocols.DatasetSplit` tunes on one data set and evaluates on another
(e.g. digits, then MNIST-1D); the store refuses an evaluation-set result in the tuning phase,
so each evaluation row records which data set it was computed on. Seed protocols and
existing rows leave it NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_eval_dataset"
down_revision = "0002_ids_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("dataset", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("dataset")
