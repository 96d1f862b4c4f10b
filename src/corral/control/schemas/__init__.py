"""API schemas, one module per resource; table models live apart in `corral.control.db.models`."""
