"""The node as an ACP client: agent sessions, their events and the agents they run."""
