"""The API's JSON parser: DRF's, with a limit on nesting depth and text a database can hold."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from cloudpam.jsonlimits import JSONTextError, JSONTooDeepError, check_json_depth, check_json_text


class JSONParser(DRFJSONParser):
    """Parse JSON bodies, refusing documents nested deeper than ``MAX_JSON_DEPTH``.

    A deep document would otherwise raise ``RecursionError`` (a 500) here or in
    whatever serializes it next; refused, it is a 400 ``validation_error``.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            return check_json_text(check_json_depth(data))
        except RecursionError:
            raise ParseError(f"JSON parse error - {JSONTooDeepError()}") from None
        except (JSONTooDeepError, JSONTextError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
