"""All table models; importing this package registers every table on `Base.metadata`."""

from corral.control.db.models.activity import ActivityEvent
from corral.control.db.models.agents import AgentSetting, CustomAgent
from corral.control.db.models.coordination import (
    InstanceValue,
    Lease,
    NodeLinkHolder,
    Replica,
    SignInFailure,
    TerminalAccessTicket,
)
from corral.control.db.models.credentials import Credential, CredentialKind
from corral.control.db.models.github import GitHubAccount, GitHubApp, PullRequest
from corral.control.db.models.nodes import MachineState, Node, NodeJoinToken, NodeStep
from corral.control.db.models.projects import Project
from corral.control.db.models.sessions import (
    AgentSession,
    PermissionRequest,
    PermissionState,
    SessionEvent,
)
from corral.control.db.models.users import (
    ApiToken,
    LinkPurpose,
    LoginLink,
    User,
    UserRole,
    UserState,
    WebSession,
)
from corral.control.db.models.workspaces import Workspace

__all__ = [
    "ActivityEvent",
    "AgentSession",
    "AgentSetting",
    "ApiToken",
    "Credential",
    "CredentialKind",
    "CustomAgent",
    "GitHubAccount",
    "GitHubApp",
    "InstanceValue",
    "Lease",
    "LinkPurpose",
    "LoginLink",
    "MachineState",
    "Node",
    "NodeJoinToken",
    "NodeLinkHolder",
    "NodeStep",
    "PermissionRequest",
    "PermissionState",
    "Project",
    "PullRequest",
    "Replica",
    "SessionEvent",
    "SignInFailure",
    "TerminalAccessTicket",
    "User",
    "UserRole",
    "UserState",
    "WebSession",
    "Workspace",
]
