"""What can go wrong, as three kinds a caller handles differently.

* :class:`Denied` — the Worker decided and said no (a decision with
  ``allowed: false``): show ``.message`` to the user with ``.status``.
* :class:`Unavailable` — no answer could be had (network failure or a 5xx
  after the bounded retries): the caller's ``fail`` choice applies.
* :class:`ApiError` — the Worker answered with an error that is not a
  decision (bad input 400, bad token 401, missing scope 403, unknown hold
  404, 409, 422): a bug or misconfiguration on the caller's side.
"""

from __future__ import annotations

from typing import Any

from ._types import Decision


class TollgateError(Exception):
    """Base of every error the client raises."""


class Denied(TollgateError):
    """The action was refused; ``decision`` is the Worker's full verdict."""

    def __init__(self, decision: Decision) -> None:
        self.decision: Decision = decision
        self.status: int = int(decision.get("status", 403))
        self.code: str = str(decision.get("code", ""))
        self.message: str = str(decision.get("message", ""))
        self.retry_after_s: int | None = decision.get("retry_after_s")
        super().__init__(f"{self.status} {self.code}: {self.message}")


class Unavailable(TollgateError):
    """The Worker could not be reached, or failed (5xx), after every retry."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None) -> None:
        self.attempts = attempts
        self.status = status
        super().__init__(message)


class ApiError(TollgateError):
    """An error answer that is not a decision: ``{code, message, errors?}``."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        obj = body if isinstance(body, dict) else {}
        self.code: str = str(obj.get("code", "http_error"))
        self.message: str = str(obj.get("message", f"HTTP {status}"))
        errors = obj.get("errors")
        self.errors: list[dict[str, Any]] = errors if isinstance(errors, list) else []
        required = obj.get("required")
        # The scope a 403 insufficient_scope asks for (SPEC §5).
        self.required: str | None = required if isinstance(required, str) else None
        super().__init__(f"{status} {self.code}: {self.message}")
