"""The node agent: links to the control plane, makes workspaces with a runtime, hosts terminals."""
