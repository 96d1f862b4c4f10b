"""A node daemon in memory, for unit tests of the control plane that start no process.

`MemoryNode` speaks the real link protocol: its `Peer` and the control plane's are wired to each
other's transport through in-memory pipes, and the control plane's end is a real
`corral.control.api.nodelink.NodeLink`, registered in the app's `NodeRegistry`, marked ready and
reconciled exactly as when a node dials the WebSocket. So services send it real requests
(`workspace.*`, `session.*`, `terminal.*`), and what it reports (session events, workspace
states, heartbeats) takes the path a real node's reports take.

It keeps what a node keeps, simply: workspaces with a state (and the spec each was made with:
its runtime and limits), sessions with a state, a queue of prompts and the permission requests
they wait on, terminals. Its heartbeats (the first as it links, as a node beats at once) report
its `runtimes` (host, unless the test says) and the fields of `reports` (cpus, allocatable
memory…). It answers as a node does (at once),
and the events a request leads to (the agent ready, a prompt taken, a session stopped) wait in
its outbox until `flush()`: a test sees what the control plane shows between the two, as a viewer
could. What the agent does on its own is the test's to say: `reply`, `finish_turn`,
`ask_permission`, `crash`, or any event with `emit`.

    node = await MemoryNode.join(state, owner, "n1")   # added, joined, linked, reconciled
    ...services call it...
    await node.flush()                                  # its events reach the control plane
    await node.unlink(); await node.link()              # it drops off and dials in again

Its parts: `core` (the workspaces it holds, its outbox, the request log), `workspaces`
(workspace and terminal requests), `sessions` (session requests, and what the agent does) and
`node` (`MemoryNode`: the link, and what the node reports of itself).
"""

from tests.support.memnode.node import NODE_VERSION, MemoryNode
from tests.support.memnode.sessions import MemorySession

__all__ = ["NODE_VERSION", "MemoryNode", "MemorySession"]
