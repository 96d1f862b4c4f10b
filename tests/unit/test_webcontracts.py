"""What the web app's generated API code is made from (corral.control.api.webcontracts): the
OpenAPI document, and the close codes as TypeScript."""

from __future__ import annotations

import re

from corral.control.api import closecodes
from corral.control.api.webcontracts import close_codes_ts, openapi_document


def test_the_document_is_the_apps() -> None:
    document = openapi_document()
    assert "/api/v1/me" in document["paths"]
    assert "ErrorResponse" in document["components"]["schemas"]


def test_close_codes_as_typescript() -> None:
    source = close_codes_ts()
    for name in closecodes.__all__:
        if name.startswith("CLOSE_"):
            assert f"export const {name} = {getattr(closecodes, name)};" in source
    final = re.search(r"FINAL_CLOSE_CODES: .* = new Set\(\[(.*?)\]\)", source, re.S)
    assert final is not None
    values = [
        getattr(closecodes, word) if word.startswith("CLOSE_") else int(word)
        for word in re.findall(r"\w+", final[1])
    ]
    assert set(values) == closecodes.FINAL_CLOSE_CODES
    assert "/** A bad query or path parameter; the reason names it. */" in source
