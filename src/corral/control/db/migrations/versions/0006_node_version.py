"""node version

`nodes.agent_version` held the version of Corral's node daemon, not of a coding agent: it is
`nodes.version` now, as "agent" means a coding agent only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.alter_column("agent_version", new_column_name="version")


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.alter_column("version", new_column_name="agent_version")
