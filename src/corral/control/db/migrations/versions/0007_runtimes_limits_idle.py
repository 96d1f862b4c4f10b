"""runtimes, limits and idle policy

Projects choose their workspaces' runtime and limits and how long they may sit idle; workspaces
keep what they asked for (placement resolves `auto`) and when they were last active.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runtime", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("cpus", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("memory_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("pids", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("idle_timeout_minutes", sa.Integer(), nullable=True))
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("idle_timeout_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("last_active_at")
        batch_op.drop_column("idle_timeout_minutes")
        batch_op.drop_column("limits")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("idle_timeout_minutes")
        batch_op.drop_column("pids")
        batch_op.drop_column("memory_bytes")
        batch_op.drop_column("cpus")
        batch_op.drop_column("runtime")
