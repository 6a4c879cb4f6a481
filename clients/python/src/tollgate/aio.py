"""The asyncio client: ``AsyncClient``, the same calls as ``Client`` with ``await``.

Every request, body, scope and answer comes from ``_protocol`` exactly as for
the blocking client; only sending and waiting differ (``anyio.sleep``, so it
runs under asyncio and trio alike).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast

import anyio
import httpx

from . import _protocol as p
from ._types import CommitResult, Decision, Fail, Redemption, Snapshot
from .client import _NEVER_SENT, _encode
from .errors import TollgateError, Unavailable

log = logging.getLogger("tollgate")


class AsyncClient:
    """``Client`` for async code: ``await tg.check(...)``, ``async with tg.reserve(...)``."""

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = p.Settings(
            url,
            jwt_secret=jwt_secret,
            admin_token=admin_token,
            fail=fail,
            locale=locale,
            backoff=p.Backoff(retries=retries, base_s=backoff_s),
        )
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self.admin = AsyncAdmin(self)

    @property
    def fail(self) -> Fail:
        return self._settings.fail

    @property
    def url(self) -> str:
        return self._settings.url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ transport

    async def _send(self, call: p.Call) -> tuple[int, Any]:
        """Send with bounded retries; (status, body) of the first real answer."""
        backoff = self._settings.backoff
        attempts = backoff.retries + 1
        headers, content = _encode(call)
        url = self._settings.url + call.path
        last = ""
        for attempt in range(attempts):
            if attempt:
                await anyio.sleep(backoff.delay(attempt - 1))
            try:
                resp = await self._http.request(call.method, url, headers=headers, content=content)
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

    async def _ok(self, call: p.Call) -> Any:
        return p.ok_or_raise(*(await self._send(call)))

    # ------------------------------------------------------------ user calls

    def token(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        *,
        scope: str | Iterable[str] = "usage",
        ttl_s: int = 600,
    ) -> str:
        """A user token (HS256) with ``scope`` (signing needs no I/O: not async)."""
        return self._settings.token(user, subscription, scope=scope, ttl_s=ttl_s)

    async def check(
        self,
        user: str,
        subscription: Mapping[str, Any] | None,
        action: Mapping[str, Any],
        *,
        explain: bool = False,
        locale: str | None = None,
    ) -> Decision:
        """The decision for ``action`` (dry run); see ``Client.check``."""
        call = self._settings.check(user, subscription, action, explain=explain, locale=locale)
        try:
            return p.decision_of(*(await self._send(call)))
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
    ) -> AsyncReservation:
        """``async with tg.reserve(...) as hold``; see ``Client.reserve``."""
        return AsyncReservation(
            self,
            user,
            subscription,
            action,
            key=idempotency_key or p.new_idempotency_key(),
            explain=explain,
            locale=locale,
        )

    async def usage(
        self, user: str, subscription: Mapping[str, Any] | None, *, locale: str | None = None
    ) -> Snapshot:
        """The user's snapshot."""
        return cast(Snapshot, await self._ok(self._settings.usage(user, subscription, locale)))

    async def redeem(
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
        return cast(Redemption, await self._ok(call))


class AsyncReservation:
    """A reserve not sent yet: an async context manager yielding the hold."""

    def __init__(
        self,
        client: AsyncClient,
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
        self._hold: AsyncHold | None = None

    async def open(self) -> AsyncHold:
        """Send the reserve now: the open hold, or Denied / Unavailable / ApiError."""
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
            decision = p.ok_or_raise(*(await c._send(call)))
        except Unavailable:
            if c.fail == "open":
                log.warning("tollgate: Worker unavailable, reserve fails open (nothing held)")
                return AsyncHold(
                    c, self._user, self._subscription, p.allowed_decision(), self.idempotency_key
                )
            raise
        return AsyncHold(c, self._user, self._subscription, decision, self.idempotency_key)

    async def __aenter__(self) -> AsyncHold:
        self._hold = await self.open()
        return self._hold

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._hold is not None:
            await self._hold.__aexit__(exc_type, exc, tb)


class AsyncHold:
    """``Hold`` for async code; ``await hold.commit(...)``."""

    def __init__(
        self,
        client: AsyncClient,
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
        self._settling = False

    @property
    def settled(self) -> bool:
        return self.committed or self.released or self._settling

    async def commit(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float | None = None,
        images: int | None = None,
        files: int | None = None,
    ) -> CommitResult | None:
        """Record the real usage; see ``Hold.commit``."""
        if self.id is None:
            return None
        self._settling = True
        c = self._client
        body = p.usage_body(input_tokens, output_tokens, cost_usd, images, files)
        try:
            result = await c._ok(c._settings.commit(self._user, self._subscription, self.id, body))
        except Unavailable:
            if c.fail == "open":
                log.warning(
                    "tollgate: commit of hold %s not confirmed (Worker unavailable)", self.id
                )
                return None
            raise
        self.committed = True
        return cast(CommitResult, result)

    async def release(self) -> dict[str, Any] | None:
        """Drop the hold."""
        if self.id is None:
            return None
        c = self._client
        try:
            result = await c._ok(c._settings.release(self._user, self._subscription, self.id))
        except Unavailable:
            if c.fail == "open":
                return None
            raise
        self.released = True
        return cast(dict[str, Any], result)

    async def extend(self, ttl_s: int | None = None) -> dict[str, Any] | None:
        """Keep the hold open longer."""
        if self.id is None:
            return None
        c = self._client
        result = await c._ok(c._settings.extend(self._user, self._subscription, self.id, ttl_s))
        if isinstance(result, dict) and "expires_at" in result:
            self.expires_at = result["expires_at"]
        return cast(dict[str, Any], result)

    async def __aenter__(self) -> AsyncHold:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.settled or self.id is None:
            return
        try:
            await self.release()
        except TollgateError as e:
            log.warning("tollgate: release of hold %s failed: %s", self.id, e)


class AsyncAdmin:
    """Admin calls of ``AsyncClient``; see ``tollgate.client.Admin``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _ok(self, call: p.Call) -> dict[str, Any]:
        return cast(dict[str, Any], await self._client._ok(call))

    @property
    def _s(self) -> p.Settings:
        return self._client._settings

    async def put_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return await self._ok(self._s.put_config(config))

    async def get_config(self, revision: int | None = None) -> dict[str, Any]:
        return await self._ok(self._s.get_config(revision))

    async def user(self, user: str) -> dict[str, Any]:
        return await self._ok(self._s.admin_user(user))

    async def reset(
        self,
        user: str,
        metrics: Iterable[str] | None = None,
        windows: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        return await self._ok(self._s.reset(user, metrics, windows))

    async def put_discount(
        self,
        code: str,
        *,
        max_uses: int,
        max_uses_per_user: int,
        expires_at: str | _dt.datetime,
        plans: Iterable[str] | None = None,
        grant: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        rule = p.discount_rule(
            max_uses=max_uses,
            max_uses_per_user=max_uses_per_user,
            expires_at=expires_at,
            plans=plans,
            grant=grant,
        )
        return await self._ok(self._s.put_discount(code, rule))

    async def grant(
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
        return await self._ok(self._s.grant(user, body, key))

    async def revoke_grant(self, user: str, grant_id: str) -> dict[str, Any]:
        return await self._ok(self._s.revoke_grant(user, grant_id))

    async def import_usage(
        self,
        user: str,
        *,
        subscription: Mapping[str, Any] | None,
        entries: Iterable[Mapping[str, Any]],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        key = idempotency_key or p.new_idempotency_key()
        body = p.import_body(subscription, entries)
        return await self._ok(self._s.import_usage(user, body, key))
