"""The one rule for names people give things (users, projects, nodes, workspaces): short,
lower-case and safe in URLs, shells and file names."""

from __future__ import annotations

import re

from corral.errors import InvalidInput

__all__ = [
    "CREDENTIAL_NAME_PATTERN",
    "ENV_NAME_PATTERN",
    "ID_PATTERN",
    "NAME_PATTERN",
    "NEW_NAME_PATTERN",
    "validate_name",
]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# An environment variable name, as POSIX shells accept it.
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")


# What `corral.ids.new_id` makes; a name shaped like one would make lookups by id-or-name ambiguous.
ID_PATTERN = re.compile(r"^[a-z]{3,4}_[0-9a-z]{26}$")
# Both rules as one pattern, for the API's schema to publish (`validate_name` checks them one by
# one, to say which was broken). Every id also matches NAME_PATTERN, so that one matches a
# reference by id or by name.
NEW_NAME_PATTERN = re.compile(rf"^(?!{ID_PATTERN.pattern[1:-1]}$){NAME_PATTERN.pattern[1:]}")
# Credentials are named after what they hold, environment variables among them: upper case too.
CREDENTIAL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def validate_name(name: str, what: str, field: str = "body.name") -> str:
    if ID_PATTERN.match(name):
        raise InvalidInput(f"a {what} name cannot look like an id", details=[{"field": field}])
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"a {what} name is 1-64 lower-case letters, digits, '.', '_' or '-', starting with "
            "a letter or digit",
            details=[{"field": field}],
        )
    return name
