"""initial schema: studies, trials, reports

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hpo_studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(100), nullable=False, server_default="default"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("finished", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("project", "name", name="uq_hpo_studies_project_name"),
    )
    op.create_table(
        "hpo_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("hpo_studies.id", ondelete="CASCADE"),
            nullable=False,
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
        sa.Column("resumes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("study_id", "number", name="uq_hpo_trials_study_number"),
    )
    op.create_index("ix_hpo_trials_study_version", "hpo_trials", ["study_id", "version"])
    op.create_index("ix_hpo_trials_study_state", "hpo_trials", ["study_id", "state"])
    op.create_table(
        "hpo_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "trial_id",
            sa.Integer,
            sa.ForeignKey("hpo_trials.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("hpo_studies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("step", sa.Float, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("cost_s", sa.Float),
        sa.Column("decision", sa.String(16)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("trial_id", "step", name="uq_hpo_reports_trial_step"),
    )
    op.create_index("ix_hpo_reports_study_version", "hpo_reports", ["study_id", "version"])


def downgrade() -> None:
    op.drop_table("hpo_reports")
    op.drop_table("hpo_trials")
    op.drop_table("hpo_studies")
