"""Initial schema: studies, trials, reports, evaluations.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(512), nullable=False, unique=True),
        sa.Column("space", sa.JSON, nullable=False),
        sa.Column("objectives", sa.JSON, nullable=False),
        sa.Column("constraints", sa.JSON, nullable=False),
        sa.Column("fidelity", sa.JSON, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("next_number", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("values", sa.JSON, nullable=True),
        sa.Column("constraint_values", sa.JSON, nullable=True),
        sa.Column("attrs", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("worker_id", sa.String(256), nullable=True),
        sa.Column("seq", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
    )
    op.create_index("ix_trials_study_state_number", "trials", ["study_id", "state", "number"])
    op.create_index("ix_trials_study_seq", "trials", ["study_id", "seq"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Float, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_reports_trial_step", "reports", ["trial_id", "step"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("values", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("trial_id", "seed", "split", name="uq_evaluations_trial_seed_split"),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("reports")
    op.drop_index("ix_trials_study_seq", "trials")
    op.drop_index("ix_trials_study_state_number", "trials")
    op.drop_table("trials")
    op.drop_table("studies")
