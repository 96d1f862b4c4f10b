"""providers, reconcilers and costs

Nodes remember what a provider was asked to make, where its machine is, what it costs and the
node reconciler's bookkeeping; users may name the node to make when their workspaces find no
room; leases let several control plane processes share the reconcilers' work; the instance's
id labels the machines it makes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("machine_type", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("region", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("credential_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("machine", sa.String(length=32), nullable=False, server_default="none")
        )
        batch_op.add_column(sa.Column("hourly_price", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("currency", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("billing_started_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("billing_ended_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("provision_deadline_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("idle_since", _WHEN, nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_template", sa.JSON(), nullable=True))
    op.create_table(
        "node_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_steps_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_steps")),
    )
    op.create_index(op.f("ix_node_steps_node_id"), "node_steps", ["node_id"], unique=False)
    op.create_table(
        "leases",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_leases")),
    )
    op.create_table(
        "instance_values",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_values")),
    )


def downgrade() -> None:
    op.drop_table("instance_values")
    op.drop_table("leases")
    op.drop_index(op.f("ix_node_steps_node_id"), table_name="node_steps")
    op.drop_table("node_steps")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("node_template")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        for column in (
            "idle_since",
            "last_error",
            "next_attempt_at",
            "attempts",
            "provision_deadline_at",
            "billing_ended_at",
            "billing_started_at",
            "currency",
            "hourly_price",
            "machine",
            "credential_id",
            "options",
            "region",
            "machine_type",
        ):
            batch_op.drop_column(column)
