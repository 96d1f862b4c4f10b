"""ssh known hosts: the host key a project's SSH remote was pinned to

A project reached with an `ssh-key` credential keeps the known_hosts lines of its server's host
key (GitHub's published keys, or what the server showed when the project was added), and every
later connection is checked against them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ssh_known_hosts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("ssh_known_hosts")
