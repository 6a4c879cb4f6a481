"""The blocking client: ``Client``, its holds and its admin calls (SPEC §13)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast

import httpx

from . import _protocol as p
from ._types import CommitResult, Decision, Fail, Redemption, Snapshot
from .errors import ApiError, TollgateError, Unavailable

log = logging.getLogger("tollgate")

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before the request left: sending again can never count twice."""


def _encode(call: p.Call) -> tuple[dict[str, str], bytes | None]:
    headers = dict(call.headers)
    if not call.has_body:
        return headers, None
    headers["content-type"] = "application/json"
    return headers, json.dumps(call.body, ensure_ascii=False).encode("utf-8")


class Client:
    """Talks to a Tollgate Worker on behalf of the platform's backend.

    ``fail`` says what ``check`` and ``reserve`` do when the Worker cannot be
    reached after ``retries`` more attempts: ``"closed"`` (default) raises
    :class:`~tollgate.Unavailable`; ``"open"`` answers an allowed decision
    and a hold whose commit and release do nothing.
    """

    def __init__(
        self,
        url: str,
        *,
        jwt_secret: str | bytes | None = None,
        admin_token: str | None = None,
        fail: Fail = "closed",
        locale: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = p.Settings(
            url,
            jwt_secret=jwt_secret,
            admin_token=admin_token,
            fail=fail,
            locale=locale,
            backoff=p.Backoff(retries=retries, base_s=backoff_s),
        )
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self.admin = Admin(self)

    @property
    def fail(self) -> Fail:
        return self._settings.fail

    @property
    def url(self) -> str:
        return self._settings.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transport

    def _send(self, call: p.Call) -> tuple[int, Any]:
        """Send with bounded retries; (status, body) of the first real answer."""
        backoff = self._settings.backoff
        attempts = backoff.retries + 1
        headers, content = _encode(call)
        url = self._settings.url + call.path
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff.delay(attempt - 1))
            try:
                resp = self._http.request(call.method, url, headers=headers, content=content)
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
                if call.resend or isinstance(e, _NEVER_SENT):
                    continue
                raise Unavailable(f"{call.method} {call.path}: {last}", attempts=attempt + 1) from e
            body = p.parse_body(resp.content)
            if p.is_retryable_status(resp.status_code):
                last = f"HTTP {resp.status_code}"
                if call.resend:
                    continue
                raise Unavailable(
                    f"{call.method} {call.path}: {last}",
                    attempts=attempt + 1,
                    status=resp.status_code,
                )
            return resp.status_code, body
        raise Unavailable(
            f"{call.method} {call.path}: no answer after {attempts} attempts ({last})",
            attempts=attempts,
        )

    def _ok(self, call: p.Call) -> Any:
        return p.ok_or_raise(*self._send(call))

    # ------------------------------------------------------------ user calls

    def token(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        *,
        scope: str | Iterable[str] = "usage",
        ttl_s: int = 600,
    ) -> str:
        """A user token (HS256) with ``scope``: by default one for the browser,
        which may read its usage and pre-check, never reserve or settle."""
        return self._settings.token(user, subscription, scope=scope, ttl_s=ttl_s)

    def check(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        explain: bool = False,
        locale: str | None = None,
    ) -> Decision:
        """The decision for ``action`` (a dry run: nothing changes).

        Allowed or not, the decision is returned, never raised: ``check`` asks
        a question. With ``fail="open"`` an unreachable Worker answers an
        allowed decision marked ``fail_open: True``.
        """
        call = self._settings.check(user, subscription, action, explain=explain, locale=locale)
        try:
            return p.decision_of(*self._send(call))
        except Unavailable:
            if self.fail == "open":
                log.warning("tollgate: Worker unavailable, check fails open")
                return p.allowed_decision()
            raise

    def reserve(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        explain: bool = False,
        locale: str | None = None,
    ) -> Reservation:
        """A reservation of ``action``; ``with`` it to get the :class:`Hold`.

        Entering sends the reserve (raising :class:`~tollgate.Denied` on a
        denial); leaving commits nothing by itself: call ``hold.commit(...)``
        with the real usage, otherwise the hold is released — also when an
        exception leaves the block (it propagates). The idempotency key
        (generated when not given) is the same for every retry.
        """
        return Reservation(
            self,
            user,
            subscription,
            action,
            key=idempotency_key or p.new_idempotency_key(),
            explain=explain,
            locale=locale,
        )

    def usage(
        self, user: str, subscription: Mapping[str, Any] | None, *, locale: str | None = None
    ) -> Snapshot:
        """The user's snapshot: every limit with used / remaining, open holds."""
        return cast(Snapshot, self._ok(self._settings.usage(user, subscription, locale)))

    def redeem(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        code: str,
        *,
        idempotency_key: str | None = None,
        locale: str | None = None,
    ) -> Redemption:
        """Redeem a discount code; raises Denied for every ``discount_*`` refusal."""
        key = idempotency_key or p.new_idempotency_key()
        call = self._settings.redeem(user, subscription, code, key=key, locale=locale)
        return cast(Redemption, self._ok(call))


class Reservation:
    """A reserve not sent yet: a context manager that yields the :class:`Hold`."""

    def __init__(
        self,
        client: Client,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        key: str,
        explain: bool,
        locale: str | None,
    ) -> None:
        self._client = client
        self._user = user
        self._subscription = subscription
        self._action = action
        self.idempotency_key = key
        self._explain = explain
        self._locale = locale
        self._hold: Hold | None = None

    def open(self) -> Hold:
        """Send the reserve now: the open Hold, or Denied / Unavailable / ApiError."""
        c = self._client
        call = c._settings.reserve(
            self._user,
            self._subscription,
            self._action,
            key=self.idempotency_key,
            explain=self._explain,
            locale=self._locale,
        )
        try:
            decision = p.ok_or_raise(*c._send(call))
        except Unavailable:
            if c.fail == "open":
                log.warning("tollgate: Worker unavailable, reserve fails open (nothing held)")
                return Hold(
                    c, self._user, self._subscription, p.allowed_decision(), self.idempotency_key
                )
            raise
        return Hold(c, self._user, self._subscription, decision, self.idempotency_key)

    def __enter__(self) -> Hold:
        self._hold = self.open()
        return self._hold

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._hold is not None:
            self._hold.__exit__(exc_type, exc, tb)


class Hold:
    """Usage reserved by an allowed action until committed or released.

    A hold of a client that failed open has ``id`` None, ``fail_open`` True,
    and its commit and release do nothing.
    """

    def __init__(
        self,
        client: Client,
        user: str,
        subscription: Mapping[str, Any] | None,
        decision: Decision,
        idempotency_key: str,
    ) -> None:
        self._client = client
        self._user = user
        self._subscription = subscription
        self.decision: Decision = decision
        self.idempotency_key = idempotency_key
        ref = decision.get("hold")
        self.id: str | None = ref["id"] if ref else None
        self.expires_at: str | None = ref["expires_at"] if ref else None
        self.fail_open: bool = bool(decision.get("fail_open"))
        self.committed = False
        self.released = False
        # Set before the commit is sent: once a commit may have landed, the
        # hold is never released (that would drop usage that happened).
        self._settling = False

    @property
    def settled(self) -> bool:
        return self.committed or self.released or self._settling

    def commit(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float | None = None,
        images: int | None = None,
        files: int | None = None,
    ) -> CommitResult | None:
        """Record the real usage in place of the estimate.

        None when nothing was recorded: a fail-open hold, or (with
        ``fail="open"``) a Worker that could not be reached — then the hold
        expires by the config's ``on_hold_expiry`` rule.
        """
        if self.id is None:
            return None
        self._settling = True
        c = self._client
        body = p.usage_body(input_tokens, output_tokens, cost_usd, images, files)
        try:
            result = c._ok(c._settings.commit(self._user, self._subscription, self.id, body))
        except Unavailable:
            if c.fail == "open":
                log.warning(
                    "tollgate: commit of hold %s not confirmed (Worker unavailable)", self.id
                )
                return None
            raise
        self.committed = True
        return cast(CommitResult, result)

    def release(self) -> dict[str, Any] | None:
        """Drop the hold (the model call failed or was not made)."""
        if self.id is None:
            return None
        c = self._client
        try:
            result = c._ok(c._settings.release(self._user, self._subscription, self.id))
        except Unavailable:
            if c.fail == "open":
                return None
            raise
        self.released = True
        return cast(dict[str, Any], result)

    def extend(self, ttl_s: int | None = None) -> dict[str, Any] | None:
        """Keep the hold open ``ttl_s`` (default: the config's ``hold_ttl_s``) longer."""
        if self.id is None:
            return None
        c = self._client
        call = c._settings.extend(self._user, self._subscription, self.id, ttl_s)
        result = c._ok(call)
        if isinstance(result, dict) and "expires_at" in result:
            self.expires_at = result["expires_at"]
        return cast(dict[str, Any], result)

    def __enter__(self) -> Hold:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.settled or self.id is None:
            return
        # Left without a commit, or by an exception: give the hold back. A
        # release that fails is logged, not raised: it must not hide the
        # caller's exception, and the hold expires by itself.
        try:
            self.release()
        except TollgateError as e:
            log.warning("tollgate: release of hold %s failed: %s", self.id, e)


class Admin:
    """Admin calls (``Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _ok(self, call: p.Call) -> Any:
        return self._client._ok(call)

    @property
    def _s(self) -> p.Settings:
        return self._client._settings

    def put_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the config (validated whole; a bad one raises ApiError 400)."""
        return cast(dict[str, Any], self._ok(self._s.put_config(config)))

    def get_config(self, revision: int | None = None) -> dict[str, Any]:
        """``{revision, config}``: the current config, or an earlier revision."""
        return cast(dict[str, Any], self._ok(self._s.get_config(revision)))

    def user(self, user: str) -> dict[str, Any]:
        """The full explanation of a user's usage: every limit, hold and grant."""
        return cast(dict[str, Any], self._ok(self._s.admin_user(user)))

    def reset(
        self,
        user: str,
        metrics: Iterable[str] | None = None,
        windows: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Reset every counter (no arguments) or those of ``metrics`` / ``windows``."""
        return cast(dict[str, Any], self._ok(self._s.reset(user, metrics, windows)))

    def put_discount(
        self,
        code: str,
        *,
        max_uses: int,
        max_uses_per_user: int,
        expires_at: str | _dt.datetime,
        plans: Iterable[str] | None = None,
        grant: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or change a discount code (SPEC §5; ``grant``: SPEC §9)."""
        rule = p.discount_rule(
            max_uses=max_uses,
            max_uses_per_user=max_uses_per_user,
            expires_at=expires_at,
            plans=plans,
            grant=grant,
        )
        return cast(dict[str, Any], self._ok(self._s.put_discount(code, rule)))

    def grant(
        self,
        user: str,
        *,
        metric: str,
        amount: float,
        scope: str | None = None,
        source: str = "admin",
        id: str | None = None,
        starts_at: str | _dt.datetime | None = None,
        expires_at: str | _dt.datetime | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Add credits to a user (SPEC §9, ``POST /v1/admin/users/{id}/grants``)."""
        body = p.grant_body(
            metric=metric,
            amount=amount,
            scope=scope,
            source=source,
            grant_id=id,
            starts_at=starts_at,
            expires_at=expires_at,
        )
        key = idempotency_key or p.new_idempotency_key()
        return cast(dict[str, Any], self._ok(self._s.grant(user, body, key)))

    def revoke_grant(self, user: str, grant_id: str) -> dict[str, Any]:
        """Remove what remains of a grant (SPEC §9)."""
        return cast(dict[str, Any], self._ok(self._s.revoke_grant(user, grant_id)))

    def import_usage(
        self,
        user: str,
        *,
        subscription: Mapping[str, Any] | None,
        entries: Iterable[Mapping[str, Any]],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Add usage counted elsewhere (SPEC §12, ``POST /v1/admin/users/{id}/usage``).

        ``entries``: ``[{metric, scope?, window, chat_id?, used}]``.
        """
        key = idempotency_key or p.new_idempotency_key()
        body = p.import_body(subscription, entries)
        return cast(dict[str, Any], self._ok(self._s.import_usage(user, body, key)))


__all__ = ["Admin", "ApiError", "Client", "Hold", "Reservation"]
