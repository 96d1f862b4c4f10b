"""The control plane's end of the node link: the WebSocket endpoint nodes dial, and the registry
of linked nodes that services use to send them requests and open streams."""
