"""Read the ``reply`` of a structured answer while it streams in (pure, no Django).

A model asked for ``{"reply": "...", "operations": [...]}`` streams JSON text; the person
chatting should see the reply's words as they arrive, not braces and escapes.
:class:`ReplyExtractor` takes the raw pieces and returns, each time, the newly decoded
part of the ``reply`` string. A partial escape at the end of a piece waits for the next.
"""

from __future__ import annotations

import json
import re

_REPLY_KEY = re.compile(r'"reply"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class ReplyExtractor:
    """Feed raw streamed text; get back the new characters of the ``reply`` value."""

    def __init__(self) -> None:
        self.raw = ""
        self.start: int | None = None  # index of the first character of the value
        self.position = 0  # next raw index to decode
        self.finished = False
        self.text = ""

    def feed(self, piece: str) -> str:
        """Add ``piece``; return the reply text decoded from it (possibly empty)."""
        self.raw += piece
        if self.finished:
            return ""
        if self.start is None:
            match = _REPLY_KEY.search(self.raw)
            if match is None:
                return ""
            self.start = self.position = match.end()
        out: list[str] = []
        raw, index = self.raw, self.position
        while index < len(raw):
            char = raw[index]
            if char == '"':
                self.finished = True
                index += 1
                break
            if char != "\\":
                out.append(char)
                index += 1
                continue
            if index + 1 >= len(raw):
                break  # the escape continues in the next piece
            code = raw[index + 1]
            if code == "u":
                if index + 6 > len(raw):
                    break
                width = 6
                if raw[index + 2 : index + 4].lower() in {"d8", "d9", "da", "db"}:
                    # A high surrogate: decode it with its low half, or not at all.
                    if index + 12 > len(raw):
                        break
                    width = 12
                try:
                    char = json.loads(f'"{raw[index : index + width]}"')
                    char.encode()
                except (ValueError, UnicodeEncodeError):
                    char = "\ufffd"
                out.append(char)
                index += width
                continue
            out.append(_ESCAPES.get(code, code))
            index += 2
        self.position = index
        new = "".join(out)
        self.text += new
        return new
