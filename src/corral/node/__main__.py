"""`python -m corral.node`: the node's long-running processes, without the CLI around them.

    python -m corral.node run [--control-url URL] [--insecure] [--data-dir DIR] [--replace]
                              [--parent-pid PID]
    python -m corral.node pty-host --data-dir DIR

The `corral` command loads the whole CLI and, with it, the control plane's libraries; a node
daemon runs for weeks on small machines and needs none of them (about 30 MiB of memory). So
`corral node run` and `corral node pty-host` hand over to this module (`os.execv`), and what
the node starts itself (its PTY host) and `corral up`'s local node start it directly. The join
token comes from CORRAL_NODE_JOIN_TOKEN, never the command line, which other users can read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "node_command"]


def node_command(*args: str) -> list[str]:
    """The argv that runs `python -m corral.node ARGS` with this interpreter."""
    return [sys.executable, "-m", "corral.node", *args]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m corral.node")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the node daemon")
    run.add_argument("--control-url")
    run.add_argument("--insecure", action="store_true")
    run.add_argument("--data-dir", type=Path)
    run.add_argument("--replace", action="store_true")
    run.add_argument("--parent-pid", type=int)
    pty = commands.add_parser("pty-host", help="hold the node's terminals")
    pty.add_argument("--data-dir", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    import uvloop
    from pydantic import ValidationError

    from corral.errors import CorralError
    from corral.logs import configure_logging
    from corral.node.settings import NodeDaemonSettings
    from corral.settings import settings_problems

    overrides = {
        "control_url": getattr(args, "control_url", None),
        # The PTY host never dials the control plane, so a URL in its environment that the
        # daemon was allowed by --insecure must not stop it.
        "insecure": args.command == "pty-host" or getattr(args, "insecure", False) or None,
        "data_dir": args.data_dir,
    }
    try:
        settings = NodeDaemonSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        print(f"error: invalid node settings: {settings_problems(exc)[0]}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging("info", "json")
    try:
        if args.command == "pty-host":
            from corral.node.ptyhost import run_pty_host

            uvloop.run(run_pty_host(settings.data_dir, settings.terminals))
            return
        from corral.node.main import run_node

        # uvloop: the node sits on the keystroke path, where the event loop's own cost shows
        # (bench/terminal.py measured p50 echo latency about 15% lower than with asyncio's).
        uvloop.run(
            run_node(
                settings,
                os.environ.get("CORRAL_NODE_JOIN_TOKEN") or None,
                replace_running=args.replace,
                parent_pid=args.parent_pid,
            )
        )
    except CorralError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
