"""Control plane replicas sharing one PostgreSQL database, serving one fleet behind one URL.

A node's link lands on one replica; a viewer's request or socket may land on another. Each
replica records which links it holds (`directory`), and a replica asked to reach a node it does
not hold forwards the request (`forwarding`) or the terminal's bytes (`terminalpipe`) to the one
that does, with calls signed by a key every replica derives from the shared secret key
(`signing`). Live feeds cross replicas through PostgreSQL (`corral.control.live.pgbroker`).
"""
