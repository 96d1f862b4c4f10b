"""GitHub: what a private repository's credential costs a workspace, and what a chat's pull
request costs over the git push it is made of.

    .venv/bin/python -m bench.github [--rounds N]

Against the tests' fake GitHub (real `git http-backend` on 127.0.0.1), a real control plane and
node (host runtime), and the scripted agent:

1. Workspace create to running, private repository vs public: two copies of one repository
   (1,000 files, 200 commits), one private reached with a `github` token, one public cloned
   anonymously. The private clone adds the node's `git.credential` round trip to the control
   plane (which opens the sealed token) and git's 401 challenge. Median of N rounds each;
   target: the private one within 1.25x of the public one.
2. A chat's pull request (`POST /sessions/{id}/pull-request`, what `corral session pr` calls:
   commit what the agent left, push, open the pull request) vs the floor: `git commit` and
   `git push` of the same change, run by hand with the token in a checkout of the same
   repository. Median of N rounds; target: within 2x of the floor (the rest is the node link,
   the credential round trip, the pull request API call and reading the chat for the body).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLONE_TARGET_RATIO = 1.25
PR_TARGET_RATIO = 2.0
FILES, COMMITS = 1000, 200
WAIT_SECONDS = 120.0


def _until(check: Callable[[], bool], what: str) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"waited {WAIT_SECONDS:g} s for {what}")


def _fill(path: Path) -> None:
    """FILES files over COMMITS commits in a bare repository: a repository of some history."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        env = {
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@example.invalid",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@example.invalid",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "PATH": "/usr/bin:/bin",
        }

        def git(*args: str) -> None:
            subprocess.run(
                ["git", "-C", str(work), *args], check=True, env=env, capture_output=True
            )

        git("clone", "-q", str(path), ".")
        per_commit = FILES // COMMITS
        for commit in range(COMMITS):
            for index in range(per_commit):
                number = commit * per_commit + index
                folder = work / f"pkg{number % 20}"
                folder.mkdir(exist_ok=True)
                (folder / f"module{number}.py").write_text(f"VALUE = {number}\n" * 40)
            git("add", ".")
            git("commit", "-q", "-m", f"commit {commit}")
        git("push", "-q", "origin", "HEAD:main")


def measure(rounds: int) -> dict[str, Any]:
    from tests.support.github_fake import fake_github
    from tests.support.sessions import SCRIPTED_AGENT, SCRIPTED_AGENT_RUNTIME_SETTINGS, session_site

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        with fake_github(base / "github") as github:
            github.add_user("octo", name="Octo Cat", email="octo@example.com")
            for name, private in (("acme/private", True), ("acme/public", False)):
                _fill(github.add_repo(name, private=private).path)
            token = github.add_personal_token("octo", ["acme/private"])
            server_env = {
                "CORRAL_GITHUB__WEB_URL": github.web_url,
                "CORRAL_GITHUB__API_URL": github.api_url,
            }
            node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
            with session_site(
                base, {"a.txt": "a\n"}, node_env=node_env, server_env=server_env,
                wait_seconds=WAIT_SECONDS,
            ) as site:  # fmt: skip
                api = site.api
                api.call(
                    "PUT", "/credentials/gh", json={"kind": "github", "value": token}, expect=201
                )
                api.post(
                    "/projects", {"name": "private", "github": "acme/private", "credential": "gh"}
                )
                api.post(
                    "/projects", {"name": "public", "repo": github.repo("acme/public").clone_url}
                )
                api.post(
                    "/agents",
                    {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]},
                )
                api.call("PATCH", "/agents/scripted/settings", json={"policy": "allow-edits"})

                def create(project: str, name: str) -> float:
                    started = time.perf_counter()
                    ws = api.post("/workspaces", {"project": project, "name": name, "node": "n1"})
                    done = _until(
                        lambda: api.get(f"/workspaces/{ws['id']}")["state"] == "running", name
                    )
                    return done - started

                clones: dict[str, list[float]] = {"private": [], "public": []}
                for index in range(rounds):
                    for project in ("public", "private"):
                        clones[project].append(create(project, f"{project}-{index}"))

                prs: list[float] = []
                for index in range(rounds):
                    session = api.post(
                        "/sessions", {"workspace": f"private-{index}", "agent": "scripted"}
                    )
                    site.wait_state(session["id"], "idle")
                    site.turn(
                        session["id"],
                        site.prompt(session["id"], f"permission path=bench{index}.txt content=x"),
                    )
                    started = time.perf_counter()
                    api.post(f"/sessions/{session['id']}/pull-request", {}, expect=200)
                    prs.append(time.perf_counter() - started)

                floors = [
                    _push_by_hand(
                        base / f"by-hand-{index}", github.repo("acme/private").clone_url, token
                    )
                    for index in range(rounds)
                ]
    return {"clones": clones, "prs": prs, "floors": floors}


def _push_by_hand(work: Path, url: str, token: str) -> float:
    """The floor of a pull request's git work: commit a change and push it with the token."""
    from corral.gitenv import GIT_CONFIG_ARGS, credential_helper, git_env

    host = url.split("/")[2]
    args, env = credential_helper(protocol="http", host=host, username="x", password=token)
    environment = {
        **git_env(),
        **env,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.invalid",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.invalid",
    }

    def git(*argv: str) -> None:
        subprocess.run(
            ["git", *GIT_CONFIG_ARGS, *args, *argv],
            check=True,
            env=environment,
            capture_output=True,
            cwd=work.parent,
        )

    work.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", url, str(work))
    (work / "by-hand.txt").write_text("x\n")
    started = time.perf_counter()
    git("-C", str(work), "add", "--all")
    git("-C", str(work), "commit", "-q", "-m", "by hand")
    git("-C", str(work), "push", "-q", url, f"HEAD:refs/heads/by-hand-{work.name}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    found = measure(options.rounds)
    public = statistics.median(found["clones"]["public"])
    private = statistics.median(found["clones"]["private"])
    pr, floor = statistics.median(found["prs"]), statistics.median(found["floors"])
    print(f"workspace create to running, public repository (anonymous): {public:.2f} s")
    print(
        f"workspace create to running, private repository (token):    {private:.2f} s  "
        f"{private / public:.2f}x of public (target {CLONE_TARGET_RATIO:g}x)"
    )
    print(f"git commit + push by hand (the floor):                      {floor:.2f} s")
    print(
        f"a chat's pull request (commit, push, open it):              {pr:.2f} s  "
        f"{pr / floor:.2f}x of the floor (target {PR_TARGET_RATIO:g}x)"
    )


if __name__ == "__main__":
    main()
