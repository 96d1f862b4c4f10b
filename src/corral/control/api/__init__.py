"""The REST API under /api/v1: one thin router per resource, all mounted together by
`corral.control.api.routes`.

Each router carries the full prefix itself, so a route's `path` is the whole template (the
access log and metrics label requests with it). The error statuses of every operation are added
to the OpenAPI document in one place, `corral.control.api.openapi`.

This package's own module imports nothing: the CLI takes the close codes from here
(`closecodes`), and importing every router with it cost each `corral` command seconds.
"""
