"""The ingest endpoint's body parser: JSON, gzip-compressed or not, within size caps."""

from __future__ import annotations

import json
import zlib
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

# 5,000 records of a few hundred bytes each fit with room to spare; gzip shrinks them ~10x.
# Inflated JSON becomes Python objects several times its size, so that cap stays modest.
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


def _read(stream: Any, limit: int) -> bytes:
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise ParseError(f"The body is larger than {limit} bytes.")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """Return ``body`` decompressed, refusing to inflate past ``limit`` (a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise ParseError("The body is not valid gzip.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ParseError(f"The body inflates past {limit} bytes.")
    if not inflater.eof:
        raise ParseError("The gzip body is truncated.")
    return data


class IngestJSONParser(BaseParser):
    """Parse a JSON body, inflating it first when sent with ``Content-Encoding: gzip``."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        encoding = meta.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
        body = _read(stream, MAX_BODY_BYTES)
        if encoding == "gzip":
            body = _gunzip(body, MAX_DECOMPRESSED_BYTES)
        elif encoding not in ("", "identity"):
            raise ParseError(f"Unsupported Content-Encoding '{encoding}': send gzip or none.")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}") from None
