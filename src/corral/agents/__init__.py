"""Which coding agents Corral can run and how: the catalog, shared by control plane and nodes."""
