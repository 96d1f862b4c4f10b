"""The `corral` command starts without the control plane's server libraries.

Every command pays for what the CLI imports before it does anything: importing the API's
routers with it (FastAPI, SQLAlchemy, every service) made each command take over 3 s to
start. A fresh interpreter shows what a command really loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_LIBRARIES = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "asyncpg")


def test_the_cli_loads_no_server_library() -> None:
    script = (
        "import json, sys\n"
        "import corral.cli\n"
        f"print(json.dumps(sorted(m for m in {SERVER_LIBRARIES!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == [], "the CLI imports server libraries on start"
