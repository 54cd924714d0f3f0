"""The tables of a study database (SQLAlchemy 2.x ORM) and their conversion to plain records.

Only :mod:`mixscale.study.storage` uses these rows; everything else sees :class:`~mixscale.study.trial.Trial` and
:class:`~mixscale.study.trial.RecommendationRecord`.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mixscale.space import Config
from mixscale.study.trial import RecommendationRecord, Trial

SCHEMA_VERSION = 1
APP = "mixscale"


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    __tablename__ = "mixscale_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class StudyRow(Base):
    __tablename__ = "mixscale_studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    space: Mapped[dict] = mapped_column(JSON)
    objective: Mapped[dict] = mapped_column(JSON)
    metric: Mapped[str] = mapped_column(String(256))
    minimize: Mapped[bool]
    strategy: Mapped[str] = mapped_column(String(64))
    strategy_options: Mapped[dict] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer, default=0)
    driver: Mapped[str | None] = mapped_column(String(256), nullable=True)
    heartbeat: Mapped[float | None] = mapped_column(Float, nullable=True)


class TrialRow(Base):
    __tablename__ = "mixscale_trials"
    __table_args__ = (UniqueConstraint("study_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("mixscale_studies.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "strategy" | "enqueued"
    mixture: Mapped[dict] = mapped_column(JSON)
    scale: Mapped[str] = mapped_column(String(256))
    steps: Mapped[int] = mapped_column(Integer)
    eval_seed: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    curve: Mapped[list | None] = mapped_column(JSON, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    info: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    ask_seq: Mapped[int] = mapped_column(Integer)
    end_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)


class RecommendationRow(Base):
    __tablename__ = "mixscale_recommendations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("mixscale_studies.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    n_complete: Mapped[int] = mapped_column(Integer)
    spent: Mapped[float] = mapped_column(Float)
    mixture: Mapped[dict] = mapped_column(JSON)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    std: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[float] = mapped_column(Float)


TABLES = {t.name for t in Base.metadata.sorted_tables}


def to_trial(r: TrialRow) -> Trial:
    curve = tuple((int(s), float(v)) for s, v in r.curve) if r.curve else None
    return Trial(
        r.number,
        r.state,
        Config(dict(r.mixture), r.scale, int(r.steps)),
        r.source,
        r.eval_seed,
        r.value,
        curve,
        r.cost,
        dict(r.info or {}),
        r.error,
        r.attempts,
        r.failures,
        r.ask_seq,
        r.end_seq,
        r.created_at,
        r.started_at,
        r.finished_at,
        r.duration,
        r.worker,
    )


def to_recommendation(r: RecommendationRow) -> RecommendationRecord:
    from mixscale.strategies.base import Recommendation  # here: strategies import torch

    rec = Recommendation(dict(r.mixture), r.value, r.std, r.source)
    return RecommendationRecord(r.seq, r.n_complete, r.spent, rec, r.created_at)
