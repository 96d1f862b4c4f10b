"""github: the App, users' GitHub identities, projects' git credentials, pull requests

Corral's GitHub App and each user's linked GitHub identity are kept with their secrets sealed;
a project names the credential or App installation that reaches its repository; a chat's pull
requests are kept with what GitHub's webhooks last said of them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:46:15.625701
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "github_apps",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.BigInteger(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("html_url", sa.String(length=2048), nullable=False),
        sa.Column("owner_login", sa.String(length=100), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_apps")),
        sa.UniqueConstraint("app_id", name=op.f("uq_github_apps_app_id")),
    )
    op.create_table(
        "github_accounts",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("github_id", sa.BigInteger(), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_github_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_github_accounts")),
        sa.UniqueConstraint("github_id", name=op.f("uq_github_accounts_github_id")),
    )
    op.create_table(
        "pull_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("repo", sa.String(length=200), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("base", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("checks", sa.String(length=16), nullable=True),
        sa.Column("failed_check", sa.Text(), nullable=True),
        sa.Column("review_requested", sa.String(length=100), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pull_requests_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["agent_sessions.id"],
            name=op.f("fk_pull_requests_session_id_agent_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_pull_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_requests")),
    )
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pull_requests_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pull_requests_repo"), ["repo"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pull_requests_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pull_requests_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("git_credential_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("github_repo", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("github_installation_id", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_projects_git_credential_id_credentials"),
            "credentials",
            ["git_credential_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_projects_git_credential_id_credentials"), type_="foreignkey"
        )
        batch_op.drop_column("github_installation_id")
        batch_op.drop_column("github_repo")
        batch_op.drop_column("git_credential_id")

    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pull_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_pull_requests_session_id"))
        batch_op.drop_index(batch_op.f("ix_pull_requests_repo"))
        batch_op.drop_index(batch_op.f("ix_pull_requests_project_id"))

    op.drop_table("pull_requests")
    op.drop_table("github_accounts")
    op.drop_table("github_apps")
