"""The control plane's end of the node link: one `NodeConnection` per linked node, and the
`NodeRegistry` services use to send nodes requests and open streams. The WebSocket nodes dial is
a router like the others, `corral.control.api.nodelink`."""
