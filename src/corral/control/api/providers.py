"""Routes for providers: which ones this Corral offers, what sizes and regions one offers the
signed-in user (with prices, read with their own credential), and what cloud nodes cost."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, State
from corral.control.db.base import utcnow
from corral.control.db.models import User, UserRole
from corral.control.providers.registry import load_provider, provider_names
from corral.control.schemas.nodes import (
    MachineTypePublic,
    NodeTemplate,
    ProviderOffer,
    ProviderPublic,
    RegionPublic,
    SpendPublic,
    SshTarget,
)
from corral.control.services import autoscale, costs, provisioning
from corral.errors import InvalidInput

router = APIRouter(prefix=API_PREFIX, tags=["providers"])


@router.get("/providers")
async def list_providers(user: CurrentUser, state: State) -> list[ProviderPublic]:
    """The enabled providers (`manual` is always there: a node you join by hand)."""
    found = [ProviderPublic(name="manual", kind="manual", credential_kind=None)]
    for name in provider_names():
        try:
            cls = load_provider(name, state.settings.providers)
        except InvalidInput:
            continue
        found.append(ProviderPublic(name=name, kind=cls.kind, credential_kind=cls.credential_kind))
    return found


@router.get("/providers/default-node")
async def get_node_template(user: CurrentUser) -> NodeTemplate | None:
    """The node made for you when your workspaces find no room, if you set one."""
    return _template_out(user.node_template)


@router.put("/providers/default-node")
async def set_node_template(
    body: NodeTemplate, user: CurrentUser, db: Db, state: State
) -> NodeTemplate:
    """Set the node to make when one of your workspaces waits for room: it is made with your
    credential (within the limits on nodes and spend) and the workspace lands on it."""
    cls = load_provider(body.provider, state.settings.providers)
    if cls.kind != "cloud":  # an SSH server is one machine: a second node there cannot be
        raise InvalidInput(
            f"{body.provider} does not make machines: a default node comes from a cloud "
            "provider such as hetzner",
            details=[{"field": "body.provider"}],
        )
    options: dict[str, Any] = {"allow_ssh": body.allow_ssh}
    if body.ssh is not None:
        options = body.ssh.model_dump()
    template = autoscale.clean_template(
        {**body.model_dump(exclude={"ssh", "allow_ssh"}), "options": options}
    )
    found = await db.get(User, user.id)
    assert found is not None
    found.node_template = template
    await db.commit()
    out = _template_out(template)
    assert out is not None
    return out


@router.delete("/providers/default-node", status_code=204)
async def clear_node_template(user: CurrentUser, db: Db) -> None:
    """Workspaces that find no room wait for it again."""
    found = await db.get(User, user.id)
    assert found is not None
    found.node_template = None
    await db.commit()


def _template_out(template: dict[str, Any] | None) -> NodeTemplate | None:
    if not template:
        return None
    options = dict(template.get("options") or {})
    ssh = SshTarget(**options) if "host" in options else None
    return NodeTemplate.model_construct(
        provider=template["provider"],
        machine_type=template.get("machine_type"),
        region=template.get("region"),
        credential=template.get("credential"),
        allow_ssh=bool(options.get("allow_ssh", False)),
        ssh=ssh,
    )


@router.get("/providers/{provider}/offer")
async def provider_offer(
    provider: str,
    user: CurrentUser,
    db: Db,
    state: State,
    credential: Annotated[str | None, Query(max_length=100)] = None,
) -> ProviderOffer:
    """The sizes (with prices per hour) and regions `provider` offers, read with your
    credential for it (`credential`, or your only one of its kind)."""
    types, regions = await provisioning.machine_offer(
        db, state.provisioning, user.id, provider, credential
    )
    return ProviderOffer(
        machine_types=[
            MachineTypePublic(
                name=t.name,
                description=t.description,
                cpus=t.cpus,
                memory_bytes=t.memory_bytes,
                disk_bytes=t.disk_bytes,
                architecture=t.architecture,
                hourly_price=t.hourly_price,
                currency=t.currency,
                regions=list(t.regions),
                prices=dict(t.prices),
            )
            for t in types
        ],
        regions=[
            RegionPublic(name=r.name, description=r.description, country=r.country) for r in regions
        ],
    )


@router.get("/costs")
async def list_costs(user: CurrentUser, db: Db) -> list[SpendPublic]:
    """What cloud nodes cost this month so far, per user and currency: everyone's for the
    owner, your own for a member."""
    spends = await costs.spend_by_user(
        db, utcnow(), user_id=None if user.role == UserRole.OWNER else user.id
    )
    rows = await db.execute(
        select(User.id, User.name).where(User.id.in_({s.user_id for s in spends}))
    )
    names = {user_id: name for user_id, name in rows}
    return [
        SpendPublic(
            user_id=s.user_id,
            user_name=names.get(s.user_id, s.user_id),
            currency=s.currency,
            this_month=round(s.this_month, 4),
            per_hour_now=round(s.per_hour_now, 4),
        )
        for s in spends
    ]
