"""Agent sessions: a chat with a coding agent in a workspace, run by the workspace's node.

One module a job, each importing only those before it:

- `usage`: what an agent reports of its usage, kept as the API shows it.
- `transcript`: a session's events as viewers get them, stored in one INSERT a batch, and the
  summary of a transcript for an agent that cannot load its earlier session.
- `queries`: finding a user's sessions and reading their events.
- `permissions`: agents' permission requests: recorded from events, answered through the node,
  cancelled when their session ends.
- `ingest`: storing the events nodes send, and what follows from them (state, latest message,
  usage, permission requests); a node's sessions that ended with it.
- `commands`: start, prompt, cancel, set_mode, set_model and stop, sent to the node.
- `stream`: a viewer's events: the stored ones after a number, then the live ones, each once.

A session outlives its agent process: prompting a stopped session starts the agent again in
the workspace and continues the conversation (`session/load` where the agent offers it, else a
summary of the transcript).
"""
