"""Schemas for users, sign-in and API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import Field

from corral.control.db.models import User, UserRole, UserState
from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import NewName
from corral.control.services.accounts import RunningSession
from corral.control.services.users import Invite
from corral.states import SessionState

__all__ = [
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenPublic",
    "InviteCreate",
    "InviteCreated",
    "InvitePublic",
    "LoginExchange",
    "LoginExchanged",
    "UserDetail",
    "UserPublic",
    "UserSessionPublic",
]


class UserPublic(PublicModel):
    id: str
    name: str
    role: UserRole
    state: UserState
    created_at: datetime


class UserSessionPublic(PublicModel):
    """Another user's agent session as the owner sees it: where it runs, never what it says."""

    id: str
    agent: str
    state: SessionState
    workspace: str | None = Field(description="The workspace's name; null if it is gone.")
    node: str | None = Field(description="The node's name; null if it is gone.")
    created_at: datetime
    stop_error: str | None = Field(
        None,
        description="When disabling its user could not stop it: why (retry by disabling again).",
    )


class UserDetail(UserPublic):
    sessions: list[UserSessionPublic] = Field(
        description="The user's live agent sessions (starting, idle, running or awaiting "
        "permission). In the answer to disabling: those that were live, which were stopped "
        "unless `stop_error` says otherwise."
    )

    @classmethod
    def of(cls, user: User, sessions: Sequence[RunningSession]) -> UserDetail:
        return cls(
            **UserPublic.model_validate(user).model_dump(),
            sessions=[UserSessionPublic.model_validate(s) for s in sessions],
        )


class ApiTokenPublic(PublicModel):
    id: str
    name: str
    last4: str = Field(description="The token's last four characters, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreate(StrictInput):
    name: str = Field(min_length=1, max_length=100)


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The secret; shown in this response only.")

    @classmethod
    def from_row(cls, row: object, secret: str) -> ApiTokenCreated:
        return cls(**ApiTokenPublic.model_validate(row).model_dump(), token=secret)


class LoginExchange(StrictInput):
    token: str = Field(min_length=1, max_length=200, description="The token of a login link.")
    token_name: str = Field(
        "cli", min_length=1, max_length=100, description="Name for the API token made in exchange."
    )


class LoginExchanged(PublicModel):
    user: UserPublic
    token: ApiTokenCreated


class InviteCreate(StrictInput):
    name: NewName


class InvitePublic(PublicModel):
    """An invite link (never its secret) and the account it lets someone join."""

    id: str
    user: UserPublic
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_invite(cls, invite: Invite) -> InvitePublic:
        link = invite.link
        return cls(
            id=link.id,
            user=UserPublic.model_validate(invite.user),
            created_at=link.created_at,
            expires_at=link.expires_at,
            revoked_at=link.revoked_at,
        )


class InviteCreated(InvitePublic):
    invite_url: str = Field(description="Single-use link for the new user; shown once.")
