"""Per-user credentials: sealed on the way in, listed as metadata only, opened only for use."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control import secretbox
from corral.control.db.base import utcnow
from corral.control.db.models import Credential, CredentialKind, MachineState, Node
from corral.control.secretbox import SecretBox
from corral.control.services import activity, githubaccounts, githubapp
from corral.control.services.lookup import find_by_ref
from corral.control.services.names import CREDENTIAL_NAME_PATTERN, ENV_NAME_PATTERN, ID_PATTERN
from corral.control.services.pagination import paginate
from corral.errors import Conflict, InvalidInput
from corral.ids import new_id
from corral.protocol.base import MAX_ENV_VALUE_LENGTH
from corral.states import NodeState

__all__ = [
    "MAX_VALUE_BYTES",
    "clean_value",
    "delete_credential",
    "get_credential",
    "list_credentials",
    "reveal_credential",
    "rotate_key",
    "set_credential",
]

MAX_VALUE_BYTES = 64 * 1024
MIN_LENGTH_FOR_LAST4 = 12


def _associated_data(row: Credential) -> bytes:
    return f"corral/credential/v1\0{row.id}\0{row.user_id}\0{row.kind.value}".encode()


def _validate_name(name: str, kind: CredentialKind) -> None:
    if not CREDENTIAL_NAME_PATTERN.match(name) or ID_PATTERN.match(name):
        raise InvalidInput(
            "a credential name is 1-100 letters, digits, '.', '_' or '-', not shaped like an id",
            details=[{"field": "path.name"}],
        )
    if kind == CredentialKind.ENV and not ENV_NAME_PATTERN.match(name):
        raise InvalidInput(
            "an env credential is named after its environment variable (letters, digits, '_')",
            details=[{"field": "path.name"}],
        )


def _a(kind: CredentialKind) -> str:
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"


def _bad_value(message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": "body.value"}])


def clean_value(kind: CredentialKind, value: str) -> str:
    """The value to store for `kind`, or `InvalidInput` saying what is wrong with it.

    Surrounding whitespace (the newline of a pasted or piped value) is dropped for every kind.
    API keys and tokens travel in HTTP headers and environment variables, so they are one word of
    printable ASCII: a line break inside one is a paste gone wrong, not part of the key. An env
    credential is one variable's value, which may be any text an environment holds. An SSH key is
    a multi-line PEM or OpenSSH private key, kept with Unix line ends and the final newline ssh
    needs. Messages never include the value, not even part of it.
    """
    value = value.strip()
    if not value:
        raise _bad_value("the credential value is empty")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise _bad_value("the credential value is over 64 KiB")
    if kind == CredentialKind.SSH_KEY:
        return _clean_ssh_key(value)
    if len(value) > MAX_ENV_VALUE_LENGTH:
        raise _bad_value(
            f"{_a(kind)} credential reaches agents as an environment variable, which holds "
            f"at most {MAX_ENV_VALUE_LENGTH} characters"
        )
    if kind == CredentialKind.ENV:
        return value
    what = f"{_a(kind)} credential is one word of printable ASCII"
    if "\n" in value or "\r" in value:
        raise _bad_value(f"{what}, but the value has a line break inside it")
    if any(char.isspace() for char in value):
        raise _bad_value(f"{what}, but the value has a space or tab inside it")
    if any(not char.isprintable() for char in value):
        raise _bad_value(f"{what}, but the value has a control character inside it")
    if not value.isascii():
        raise _bad_value(
            f"{what}, but the value has a character outside ASCII in it (a curly quote or a "
            "look-alike letter copied with it?)"
        )
    return value


_SSH_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----\n[\x20-\x7e\n]*\n-----END \1PRIVATE KEY-----"
)


def _clean_ssh_key(value: str) -> str:
    value = value.replace("\r\n", "\n")
    if not _SSH_KEY.fullmatch(value):
        raise _bad_value(
            "an ssh-key credential is a private key in OpenSSH or PEM format: from its "
            "'-----BEGIN ... PRIVATE KEY-----' line to the matching '-----END' line, in ASCII"
        )
    return value + "\n"


async def set_credential(
    db: AsyncSession, box: SecretBox, user_id: str, *, name: str, kind: CredentialKind, value: str
) -> tuple[Credential, bool]:
    """Store or replace the credential `name`; the bool says whether it was new."""
    _validate_name(name, kind)
    value = clean_value(kind, value)
    row = await db.scalar(
        select(Credential).where(Credential.user_id == user_id, Credential.name == name)
    )
    created = row is None
    if row is None:
        row = Credential(id=new_id("crd"), user_id=user_id, name=name)
        db.add(row)
    row.kind = kind
    row.key_id, row.nonce, row.ciphertext = box.seal(value, _associated_data(row))
    # Four characters of a short value would give too much of it away.
    row.last4 = value.rstrip()[-4:] if len(value.strip()) >= MIN_LENGTH_FOR_LAST4 else ""
    row.updated_at = utcnow()
    activity.record(
        db,
        "credential.created" if created else "credential.replaced",
        row,
        user_id=user_id,
        actor_id=user_id,
        details={"kind": kind.value},
    )
    await db.commit()
    return row, created


async def list_credentials(
    db: AsyncSession, user_id: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[Credential], str | None]:
    statement = select(Credential).where(Credential.user_id == user_id)
    return await paginate(db, statement, Credential.id, limit=limit, cursor=cursor)


async def get_credential(db: AsyncSession, user_id: str, ref: str) -> Credential:
    """Find a credential by id or by name among the user's own."""
    return await find_by_ref(
        db, Credential, ref, what="credential", where=[Credential.user_id == user_id]
    )


async def delete_credential(db: AsyncSession, user_id: str, ref: str) -> None:
    row = await get_credential(db, user_id, ref)
    # A node's machine is deleted with the credential it was made with: without it, a server
    # would keep running (and costing) where Corral can no longer reach it.
    using = await db.scalar(
        select(Node.name).where(
            Node.credential_id == row.id,
            Node.machine == MachineState.MADE,
            Node.state != NodeState.DELETED,
        )
    )
    if using is not None:
        raise Conflict(
            f"node {using} was made with {row.name}, which deletes its machine: remove the "
            "node first (`corral node rm`), or replace the value with `corral credentials set`",
            reason="credential_in_use",
        )
    await db.delete(row)
    activity.record(
        db,
        "credential.deleted",
        row,
        user_id=user_id,
        actor_id=user_id,
        details={"kind": row.kind.value},
    )
    await db.commit()


async def reveal_credential(db: AsyncSession, box: SecretBox, row: Credential) -> str:
    """Decrypt a credential for use (an agent's environment) and note when it was last used."""
    value = box.open((row.key_id, row.nonce, row.ciphertext), _associated_data(row))
    row.last_used_at = utcnow()
    await db.commit()
    return value


async def rotate_key(db: AsyncSession, old: SecretBox, new: SecretBox) -> int:
    """Re-encrypt every sealed secret under `new`'s key in one transaction: the credentials,
    the GitHub App's secrets and users' GitHub tokens. Returns how many credentials."""
    rows = (await db.scalars(select(Credential))).all()
    for row in rows:
        secretbox.reseal(row, _associated_data(row), old, new)
    await githubapp.reseal(db, old, new)
    await githubaccounts.reseal(db, old, new)
    await db.commit()
    return len(rows)
