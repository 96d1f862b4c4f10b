"""The node daemon: links to the control plane, makes workspaces with a runtime, hosts terminals."""
