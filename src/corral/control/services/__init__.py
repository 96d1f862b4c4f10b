"""Domain logic. Services take an `AsyncSession` and plain values, raise `corral.errors`, and know
nothing of HTTP; each mutating function commits its own transaction, activity event included."""
