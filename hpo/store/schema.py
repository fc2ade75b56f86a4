"""The study store's tables (SQLAlchemy 2 ORM).

Every column that holds structured data is JSON (never pickle). The schema is
versioned by Alembic (``hpo/store/migrations``); ``SCHEMA_REVISION`` is the
revision this code expects and a test checks that it is Alembic's head.

Tables:
- ``studies``: definition (space, objectives, constraints, fidelity, settings)
  plus two counters updated under the study's row lock: ``next_number`` (trial
  numbers are allocated atomically from it) and ``seq`` (a change counter: each
  trial that finishes takes the next value, so readers fetch only what changed).
- ``trials``: one row per trial, unique ``(study_id, number)``; ``expires_at`` is the
  end of a RUNNING trial's lease (extended by each heartbeat), after which it may be
  reclaimed.

Ids are never reused (SQLite tables are AUTOINCREMENT, PostgreSQL uses sequences), so a
handle on a deleted study can never address a study created after it.
- ``reports``: intermediate results per step or fidelity value.
- ``evaluations``: results keyed by seed, each marked as a tuning or a test
  evaluation, and the data set they were computed on (``dataset``, NULL unless the
  study's protocol is a data-set split); the store enforces the study's protocol on them
  (:mod:`hpo.protocols.splits`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "StudyRow", "TrialRow", "ReportRow", "EvaluationRow", "SCHEMA_REVISION", "utcnow"]

#: Alembic revision of the schema this code reads and writes.
SCHEMA_REVISION = "0003_eval_dataset"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class StudyRow(Base):
    __tablename__ = "studies"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), unique=True, nullable=False)
    space: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    objectives: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    constraints: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    fidelity: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    next_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
        Index("ix_trials_study_state_number", "study_id", "state", "number"),
        Index("ix_trials_study_seq", "study_id", "seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    constraint_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When a RUNNING trial becomes reclaimable (its lease ends); None: never.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_trial_step", "trial_id", "step"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False)
    step: Mapped[float] = mapped_column(Float, nullable=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("trial_id", "seed", "split", name="uq_evaluations_trial_seed_split"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False)
    seed: Mapped[int] = mapped_column(Integer, nullable=False)
    split: Mapped[str] = mapped_column(String(16), nullable=False)  # "tuning" | "test"
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    dataset: Mapped[str | None] = mapped_column(String(256), nullable=True)
