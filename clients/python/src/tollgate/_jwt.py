"""HS256 user tokens (SPEC §5), signed with the standard library.

The client signs and never verifies, and only ever with HS256, so ``hmac`` and
``hashlib`` are all it takes; the token is exactly what the Worker's
``verify_jwt`` reads: ``sub``, ``exp``, ``iat``, ``scope`` and, when given,
``subscription``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

SCOPES = ("usage", "reserve", "settle", "gateway")
"""Every scope the Worker knows (SPEC §5)."""

_USER_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def check_user_id(user: str) -> str:
    """The user id, or ValueError: 1–128 characters of ``A–Z a–z 0–9 . _ : @ -``.

    Checked here so that a bad id fails at the call that made it, not as a
    401 from the Worker.
    """
    if not isinstance(user, str) or not _USER_ID.match(user):
        raise ValueError(f"user id {user!r}: expected 1-128 characters of A-Z a-z 0-9 . _ : @ -")
    return user


def normalize_scope(scope: str | Iterable[str]) -> str:
    """A space-separated scope claim from ``"usage settle"`` or ``["usage", "settle"]``."""
    parts = scope.split() if isinstance(scope, str) else [str(s) for s in scope]
    if not parts:
        raise ValueError("scope: at least one of " + ", ".join(SCOPES))
    unknown = [p for p in parts if p not in SCOPES]
    if unknown:
        raise ValueError(f"scope: unknown {unknown!r}; known: {', '.join(SCOPES)}")
    # Keep the caller's order, drop repeats.
    return " ".join(dict.fromkeys(parts))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mint(
    secret: str | bytes,
    user: str,
    subscription: Mapping[str, Any] | None,
    *,
    scope: str | Iterable[str],
    ttl_s: int,
    now_s: int,
) -> str:
    """An HS256 JWT for ``user`` valid for ``ttl_s`` seconds from ``now_s``."""
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("jwt_secret is empty")
    claims: dict[str, Any] = {
        "sub": check_user_id(user),
        "iat": now_s,
        "exp": now_s + int(ttl_s),
        "scope": normalize_scope(scope),
    }
    if subscription is not None:
        claims["subscription"] = dict(subscription)
    head = _b64(_json({"alg": "HS256", "typ": "JWT"}))
    body = _b64(_json(claims))
    signing_input = f"{head}.{body}".encode("ascii")
    sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"
