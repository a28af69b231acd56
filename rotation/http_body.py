"""Reading an HTTP answer's body from an untrusted server: bounded in size and in time.

``requests``' read timeout restarts with every byte received, so a server that drips its
answer holds a caller as long as it likes, and ``response.text`` keeps any size in memory.
:func:`read_bounded` reads a streamed response (``stream=True``) one receive at a time and
stops at a byte limit or a deadline, checked after every receive (compressed answers are
decompressed here, so a stream that decodes to nothing cannot hide from it). A server that
drips its *headers* is bounded only by the per-receive timeout: a documented residual.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import requests


class BodyTooLarge(Exception):
    """The answer has more bytes than the caller accepts."""


class BodyTooSlow(Exception):
    """The answer did not arrive before the caller's deadline."""


class BodyUnreadable(Exception):
    """The answer's encoding is unknown, or its compressed data is broken."""


#: Bytes asked for per receive.
_READ_SIZE = 65_536


def read_bounded(response: requests.Response, *, max_bytes: int, deadline: float) -> bytes:
    """The (decoded) body of a streamed ``response``: at most ``max_bytes``, read before
    ``time.monotonic()`` passes ``deadline``.

    Compressed answers (``gzip``, ``deflate``) are read as they come off the wire and
    decompressed here, at most ``max_bytes`` of output, so neither a compression bomb nor a
    stream that decodes to nothing escapes the limits. Raises :class:`BodyTooLarge`,
    :class:`BodyTooSlow`, :class:`BodyUnreadable` (an unknown or broken encoding);
    ``requests``/``urllib3`` errors propagate. The response is closed either way.
    """
    body = bytearray()
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    try:
        while True:
            if time.monotonic() > deadline:
                raise BodyTooSlow(f"the answer took longer than the deadline ({len(body)} bytes)")
            chunk = response.raw.read1(_READ_SIZE, decode_content=False)
            if not chunk:
                if decoder is not None:
                    body += decoder.flush()
                return _checked(body, max_bytes)
            if decoder is None:
                body += chunk
            else:
                try:
                    body += decoder.decompress(chunk, max_bytes + 1 - len(body))
                except zlib.error:
                    raise BodyUnreadable("the answer's compressed data is broken") from None
            _checked(body, max_bytes)
    finally:
        response.close()


def body_text(response: requests.Response, body: bytes) -> str:
    """``body`` as text in the response's charset (UTF-8 when it names none, or one Python
    does not know)."""
    try:
        return body.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _decoder(content_encoding: str) -> Any:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Deflate()
    raise BodyUnreadable("the answer's Content-Encoding is not identity, gzip or deflate")


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped (RFC 9110), or raw (as some do)."""

    def __init__(self) -> None:
        self._decoder = zlib.decompressobj()
        self._started = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if not self._started:
            self._started = True
            try:
                return self._decoder.decompress(data, max_length)
            except zlib.error:
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._decoder.decompress(data, max_length)

    def flush(self) -> bytes:
        return self._decoder.flush()


def _checked(body: bytearray, max_bytes: int) -> bytes:
    if len(body) > max_bytes:
        raise BodyTooLarge(f"the answer is larger than {max_bytes} bytes")
    return bytes(body)
