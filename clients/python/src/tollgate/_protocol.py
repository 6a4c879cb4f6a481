"""The HTTP API of SPEC §5, §9 and §12 without any I/O.

``Client`` and ``AsyncClient`` differ only in how they send a request and
wait; everything else — which path, which token with which scope, which body,
whether a request may be sent again, what an answer means — is decided here
once, so the two clients cannot drift apart.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlencode

from . import _jwt
from ._types import Decision, Fail
from .errors import ApiError, Denied, TollgateError

ALL_RESPECTED = "همه محدودیت‌ها رعایت شده‌اند"
"""The seed's «all limits respected»: the message of an allowed decision."""

BACKEND_SCOPE = "usage reserve settle"
"""The scopes the backend's own calls carry (SPEC §5: the platform's backend
mints ``reserve settle`` tokens for itself; ``usage`` for check and usage)."""

BACKEND_TOKEN_TTL_S = 300
"""Lifetime of the token of one backend call: long enough for every retry."""


def new_idempotency_key(prefix: str = "tg") -> str:
    """A fresh ``Idempotency-Key`` (1–255 visible ASCII characters)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def rfc3339(value: str | _dt.datetime) -> str:
    """An RFC 3339 timestamp from a string (kept as is) or an aware datetime."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (RFC 3339 needs an offset)")
    return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def allowed_decision() -> Decision:
    """The decision a client that fails open answers when the Worker is away."""
    return {
        "allowed": True,
        "status": 200,
        "code": "ok",
        "message": ALL_RESPECTED,
        "retry_after_s": None,
        "violations": [],
        "limits": [],
        "warnings": [],
        "fail_open": True,
    }


def usage_body(
    input_tokens: int,
    output_tokens: int,
    cost_usd: float | None,
    images: int | None,
    files: int | None,
) -> dict[str, Any]:
    """A commit body: the Worker refuses unknown keys, so absent figures are left out."""
    body: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cost_usd is not None:
        body["cost_usd"] = cost_usd
    if images is not None:
        body["images"] = images
    if files is not None:
        body["files"] = files
    return body


@dataclass(frozen=True)
class Call:
    """One HTTP request to the Worker, ready to send (and to send again)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any = None
    has_body: bool = False
    resend: bool = False
    """Safe to send again after it may have reached the Worker: reads, and
    writes that an ``Idempotency-Key`` or the route itself make idempotent.
    Every call is sent again when the connection was never made."""


@dataclass(frozen=True)
class Backoff:
    """Bounded retries: ``retries`` more attempts, waits doubling from ``base_s``."""

    retries: int = 2
    base_s: float = 0.1
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (0-based), with jitter."""
        raw = min(self.cap_s, self.base_s * 2.0**attempt)
        return raw * (0.5 + random.random() / 2)  # jitter, not crypto


def is_retryable_status(status: int) -> bool:
    """A 5xx: the Worker (or what stands before it) failed to decide."""
    return status >= 500


def parse_body(content: bytes) -> Any:
    """The JSON body, or the text when it is not JSON (a proxy's error page)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def is_decision(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("allowed"), bool)


def decision_of(status: int, body: Any) -> Decision:
    """The decision a check or reserve answered, allowed or not (SPEC §5)."""
    if is_decision(body):
        return cast(Decision, body)
    raise ApiError(status, body)


def ok_or_raise(status: int, body: Any) -> Any:
    """A 2xx body; a denial decision raises Denied, any other error ApiError."""
    if 200 <= status < 300:
        return body
    if is_decision(body):
        raise Denied(cast(Decision, body))
    raise ApiError(status, body)


@dataclass
class Settings:
    """What both clients are configured with."""

    url: str
    jwt_secret: str | bytes | None = None
    admin_token: str | None = None
    fail: Fail = "closed"
    locale: str | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if self.fail not in ("open", "closed"):
            raise ValueError('fail must be "open" or "closed"')
        if self.backoff.retries < 0 or self.backoff.base_s < 0:
            raise ValueError("retries and backoff_s must not be negative")

    # ------------------------------------------------------------ tokens

    def token(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        *,
        scope: str | Iterable[str],
        ttl_s: int,
    ) -> str:
        if not self.jwt_secret:
            raise TollgateError("jwt_secret is not set: user calls need it to sign tokens")
        return _jwt.mint(
            self.jwt_secret, user, subscription, scope=scope, ttl_s=ttl_s, now_s=int(time.time())
        )

    def _user_headers(self, user: str, subscription: Mapping[str, Any] | None) -> dict[str, str]:
        tok = self.token(user, subscription, scope=BACKEND_SCOPE, ttl_s=BACKEND_TOKEN_TTL_S)
        return {"authorization": f"Bearer {tok}"}

    def _admin_headers(self) -> dict[str, str]:
        if not self.admin_token:
            raise TollgateError("admin_token is not set: admin calls need it")
        return {"authorization": f"Bearer {self.admin_token}"}

    def _query(self, *, explain: bool = False, locale: str | None = None) -> str:
        q: dict[str, str] = {}
        if explain:
            q["explain"] = "1"
        lang = locale or self.locale
        if lang:
            q["lang"] = lang
        return ("?" + urlencode(q)) if q else ""

    # ------------------------------------------------------------ user calls

    def check(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        explain: bool,
        locale: str | None,
    ) -> Call:
        # A dry run changes nothing: always safe to send again.
        return Call(
            "POST",
            "/v1/check" + self._query(explain=explain, locale=locale),
            self._user_headers(user, subscription),
            dict(action),
            has_body=True,
            resend=True,
        )

    def reserve(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        key: str,
        explain: bool,
        locale: str | None,
    ) -> Call:
        # The same key with the same body never holds twice (SPEC §5).
        headers = self._user_headers(user, subscription)
        headers["idempotency-key"] = key
        return Call(
            "POST",
            "/v1/reserve" + self._query(explain=explain, locale=locale),
            headers,
            dict(action),
            has_body=True,
            resend=True,
        )

    def commit(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        hold_id: str,
        usage: Mapping[str, Any],
    ) -> Call:
        # The same figures again answer the first answer (duplicate: true).
        return Call(
            "POST",
            f"/v1/holds/{quote(hold_id, safe='')}/commit",
            self._user_headers(user, subscription),
            dict(usage),
            has_body=True,
            resend=True,
        )

    def release(self, user: str, subscription: Mapping[str, Any] | None, hold_id: str) -> Call:
        return Call(
            "POST",
            f"/v1/holds/{quote(hold_id, safe='')}/release",
            self._user_headers(user, subscription),
            {},
            has_body=True,
            resend=True,
        )

    def extend(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        hold_id: str,
        ttl_s: int | None,
    ) -> Call:
        return Call(
            "POST",
            f"/v1/holds/{quote(hold_id, safe='')}/extend",
            self._user_headers(user, subscription),
            {} if ttl_s is None else {"ttl_s": ttl_s},
            has_body=True,
            resend=True,
        )

    def usage(self, user: str, subscription: Mapping[str, Any] | None, locale: str | None) -> Call:
        return Call(
            "GET",
            "/v1/usage" + self._query(locale=locale),
            self._user_headers(user, subscription),
            resend=True,
        )

    def redeem(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        code: str,
        *,
        key: str,
        locale: str | None,
    ) -> Call:
        headers = self._user_headers(user, subscription)
        headers["idempotency-key"] = key
        return Call(
            "POST",
            f"/v1/discounts/{quote(code, safe='')}/redeem" + self._query(locale=locale),
            headers,
            resend=True,
        )

    # ------------------------------------------------------------ admin calls

    def put_config(self, config: Mapping[str, Any]) -> Call:
        # PUT replaces: sending the same document twice leaves the same config.
        return Call(
            "PUT", "/v1/admin/config", self._admin_headers(), dict(config), True, resend=True
        )

    def get_config(self, revision: int | None) -> Call:
        path = "/v1/admin/config" + ("" if revision is None else f"?revision={int(revision)}")
        return Call("GET", path, self._admin_headers(), resend=True)

    def admin_user(self, user: str) -> Call:
        return Call("GET", _user_path(user), self._admin_headers(), resend=True)

    def reset(
        self, user: str, metrics: Iterable[str] | None, windows: Iterable[str] | None
    ) -> Call:
        body: dict[str, Any] = {}
        if metrics is not None:
            body["metrics"] = list(metrics)
        if windows is not None:
            body["windows"] = list(windows)
        # Not resent: a second reset would also clear what was used in between.
        return Call("POST", _user_path(user) + "/reset", self._admin_headers(), body, True)

    def put_discount(self, code: str, rule: Mapping[str, Any]) -> Call:
        return Call(
            "PUT",
            f"/v1/admin/discounts/{quote(code, safe='')}",
            self._admin_headers(),
            dict(rule),
            True,
            resend=True,
        )

    def grant(self, user: str, grant: Mapping[str, Any], key: str) -> Call:
        headers = self._admin_headers()
        headers["idempotency-key"] = key
        return Call("POST", _user_path(user) + "/grants", headers, dict(grant), True, resend=True)

    def revoke_grant(self, user: str, grant_id: str) -> Call:
        return Call(
            "DELETE",
            _user_path(user) + f"/grants/{quote(grant_id, safe='')}",
            self._admin_headers(),
            resend=True,
        )

    def import_usage(self, user: str, body: Mapping[str, Any], key: str) -> Call:
        headers = self._admin_headers()
        headers["idempotency-key"] = key
        return Call("POST", _user_path(user) + "/usage", headers, dict(body), True, resend=True)


def _user_path(user: str) -> str:
    return f"/v1/admin/users/{quote(_jwt.check_user_id(user), safe='')}"


def discount_rule(
    *,
    max_uses: int,
    max_uses_per_user: int,
    expires_at: str | _dt.datetime,
    plans: Iterable[str] | None,
    grant: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The body of ``PUT /v1/admin/discounts/{code}`` (SPEC §5, §9)."""
    rule: dict[str, Any] = {
        "max_uses": max_uses,
        "max_uses_per_user": max_uses_per_user,
        "expires_at": rfc3339(expires_at),
    }
    if plans is not None:
        rule["plans"] = list(plans)
    if grant is not None:
        rule["grant"] = dict(grant)
    return rule


def grant_body(
    *,
    metric: str,
    amount: float,
    scope: str | None,
    source: str,
    grant_id: str | None,
    starts_at: str | _dt.datetime | None,
    expires_at: str | _dt.datetime | None,
) -> dict[str, Any]:
    """A grant of SPEC §9: ``{id?, metric, scope?, amount, source, starts_at?, expires_at?}``."""
    if source not in ("purchase", "promo", "admin", "discount"):
        raise ValueError('source must be "purchase", "promo", "admin" or "discount"')
    body: dict[str, Any] = {"metric": metric, "amount": amount, "source": source}
    if grant_id is not None:
        body["id"] = grant_id
    if scope is not None:
        body["scope"] = scope
    if starts_at is not None:
        body["starts_at"] = rfc3339(starts_at)
    if expires_at is not None:
        body["expires_at"] = rfc3339(expires_at)
    return body


def import_body(
    subscription: Mapping[str, Any] | None, entries: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The body of a usage import (SPEC §12): ``{subscription, entries: [...]}``."""
    return {
        "subscription": None if subscription is None else dict(subscription),
        "entries": [dict(e) for e in entries],
    }
