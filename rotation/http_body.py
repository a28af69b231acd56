"""Reading an HTTP answer's body from an untrusted server: bounded in size and in time.

``requests``' read timeout restarts with every byte received, so a server that drips its
answer holds a caller as long as it likes, and ``response.text`` keeps any size in memory.
:func:`read_bounded` reads a streamed response (``stream=True``) one receive at a time and
stops at a byte limit or a deadline. A server that drips its *headers* is bounded only by
the per-receive timeout (documented residual).
"""

from __future__ import annotations

import time

import requests


class BodyTooLarge(Exception):
    """The answer has more bytes than the caller accepts."""


class BodyTooSlow(Exception):
    """The answer did not arrive before the caller's deadline."""


#: Bytes asked for per receive.
_READ_SIZE = 65_536


def read_bounded(response: requests.Response, *, max_bytes: int, deadline: float) -> bytes:
    """The (decoded) body of a streamed ``response``: at most ``max_bytes``, read before
    ``time.monotonic()`` passes ``deadline``.

    Raises :class:`BodyTooLarge` or :class:`BodyTooSlow`; ``requests``/``urllib3`` errors
    propagate. The response is closed either way.
    """
    body = bytearray()
    try:
        while True:
            if time.monotonic() > deadline:
                raise BodyTooSlow(f"the answer took longer than the deadline ({len(body)} bytes)")
            chunk = response.raw.read1(_READ_SIZE, decode_content=True)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > max_bytes:
                raise BodyTooLarge(f"the answer is larger than {max_bytes} bytes")
    finally:
        response.close()


def body_text(response: requests.Response, body: bytes) -> str:
    """``body`` as text in the response's charset (UTF-8 when it names none)."""
    return body.decode(response.encoding or "utf-8", errors="replace")
