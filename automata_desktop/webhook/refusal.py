"""Why the listener turned a request away: the one internal error type of the webhook package."""

from __future__ import annotations


class Refusal(Exception):
    """A request refused for a reason the sender can act on; becomes a 4xx JSON error body.

    Messages name the problem, never the secret and never the body's contents beyond a short,
    quoted field value.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
