"""Table definitions (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Every row that changes gets the study's new ``version``: a counter bumped (under the study's row
lock) by each writing transaction. Readers fetch the rows with a version above the one they
last saw, which is how the per-study History stays current without rereading the whole study.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

studies = sa.Table(
    "hpo_studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(100), nullable=False, server_default="default"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("finished", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    # paused by a user: nothing new starts, running trials are told PAUSE (migration 0003)
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("project", "name", name="uq_hpo_studies_project_name"),
)

trials = sa.Table(
    "hpo_trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id", sa.Integer, sa.ForeignKey("hpo_studies.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("until", sa.Float),
    sa.Column("bracket", sa.Integer),
    sa.Column("worker", sa.String(200)),
    sa.Column("lease_expires", sa.Float),
    sa.Column("checkpoint_step", sa.Float),
    sa.Column("last_step", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("interrupted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resumes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("study_id", "number", name="uq_hpo_trials_study_number"),
    sa.Index("ix_hpo_trials_study_version", "study_id", "version"),
    sa.Index("ix_hpo_trials_study_state", "study_id", "state"),
)

reports = sa.Table(
    "hpo_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "trial_id", sa.Integer, sa.ForeignKey("hpo_trials.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "study_id", sa.Integer, sa.ForeignKey("hpo_studies.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("step", sa.Float, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("cost_s", sa.Float),
    sa.Column("decision", sa.String(16)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("trial_id", "step", name="uq_hpo_reports_trial_step"),
    sa.Index("ix_hpo_reports_study_version", "study_id", "version"),
)

tokens = sa.Table(
    "hpo_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 hex; the token is not kept
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("token_hash", name="uq_hpo_tokens_hash"),
)
