"""Request shapes of the routes the Worker does not have yet, and the retry
policy, checked on the wire with ``httpx.MockTransport``.

``POST /v1/admin/users/{id}/grants`` (SPEC §9), ``DELETE .../grants/{grant}``,
``POST /v1/admin/users/{id}/usage`` (SPEC §12) and ``POST
/v1/holds/{id}/extend`` (SPEC §5) are built by other issues; their
end-to-end tests are in test_pending_routes.py and run once the Worker
answers them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tollgate import ApiError, AsyncClient, Client, Unavailable

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def body(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content)


def admin_client(rec: Recorder, **kw: Any) -> Client:
    return Client(
        "http://tollgate.test/",
        admin_token="adm",
        jwt_secret="s",
        transport=httpx.MockTransport(rec),
        backoff_s=0.001,
        **kw,
    )


def test_grant_request_shape() -> None:
    rec = Recorder(httpx.Response(201, json={"id": "g1", "metric": "tokens", "amount": 5000}))
    with admin_client(rec) as c:
        out = c.admin.grant(
            "user@example.com",
            metric="tokens",
            amount=5000,
            scope="free",
            source="purchase",
            expires_at=dt.datetime(2027, 3, 21, tzinfo=dt.timezone.utc),
            idempotency_key="order-981",
        )
    assert out["id"] == "g1"
    req = rec.requests[0]
    assert req.method == "POST"
    assert req.url.raw_path == b"/v1/admin/users/user%40example.com/grants"
    assert req.headers["authorization"] == "Bearer adm"
    assert req.headers["idempotency-key"] == "order-981"
    assert req.headers["content-type"] == "application/json"
    assert rec.body() == {
        "metric": "tokens",
        "amount": 5000,
        "source": "purchase",
        "scope": "free",
        "expires_at": "2027-03-21T00:00:00Z",
    }


def test_grant_with_id_and_defaults() -> None:
    rec = Recorder(httpx.Response(200, json={"id": "promo-1"}))
    with admin_client(rec) as c:
        c.admin.grant("u1", metric="cost_usd", amount=2.5, id="promo-1")
    assert rec.body() == {"metric": "cost_usd", "amount": 2.5, "source": "admin", "id": "promo-1"}
    key = rec.requests[0].headers["idempotency-key"]
    assert key.startswith("tg-") and 1 <= len(key) <= 255, "generated when not given"
    with pytest.raises(ValueError, match="source"):
        admin_client(rec).admin.grant("u1", metric="tokens", amount=1, source="gift")


def test_grant_retry_reuses_the_generated_key() -> None:
    rec = Recorder(httpx.Response(503, text="upstream busy"), httpx.Response(201, json={"id": "g"}))
    with admin_client(rec) as c:
        c.admin.grant("u1", metric="images", amount=3)
    keys = [r.headers["idempotency-key"] for r in rec.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_revoke_grant_shape() -> None:
    rec = Recorder(httpx.Response(200, json={"revoked": True}))
    with admin_client(rec) as c:
        c.admin.revoke_grant("u1", "g/1")
    req = rec.requests[0]
    assert (req.method, req.url.raw_path) == ("DELETE", b"/v1/admin/users/u1/grants/g%2F1")
    assert req.content == b""


def test_import_usage_shape() -> None:
    rec = Recorder(httpx.Response(200, json={"imported": 2}))
    sub = {"id": "s-9", "plan": "basic", "active": True, "starts_at": 1, "ends_at": 2}
    entries = [
        {"metric": "tokens", "window": "month", "used": 120000},
        {"metric": "files", "window": "chat", "chat_id": "c7", "used": 2},
    ]
    with admin_client(rec) as c:
        c.admin.import_usage("u1", subscription=sub, entries=entries, idempotency_key="mig-u1")
    req = rec.requests[0]
    assert (req.method, req.url.raw_path) == ("POST", b"/v1/admin/users/u1/usage")
    assert req.headers["idempotency-key"] == "mig-u1"
    assert rec.body() == {"subscription": sub, "entries": entries}


def test_reset_and_discount_shapes() -> None:
    rec = Recorder(httpx.Response(200, json={}))
    with admin_client(rec) as c:
        c.admin.reset("u1")
        c.admin.reset("u1", metrics=["tokens"], windows=["day", "1h"])
        c.admin.put_discount(
            "NOWRUZ",
            max_uses=100,
            max_uses_per_user=1,
            expires_at="2027-03-21T00:00:00Z",
            grant={"metric": "tokens", "amount": 10000, "expires_in_days": 30},
        )
        c.admin.get_config(revision=3)
    assert rec.body(0) == {}
    assert rec.body(1) == {"metrics": ["tokens"], "windows": ["day", "1h"]}
    assert rec.requests[2].method == "PUT"
    assert rec.requests[2].url.raw_path == b"/v1/admin/discounts/NOWRUZ"
    assert rec.body(2) == {
        "max_uses": 100,
        "max_uses_per_user": 1,
        "expires_at": "2027-03-21T00:00:00Z",
        "grant": {"metric": "tokens", "amount": 10000, "expires_in_days": 30},
    }
    assert rec.requests[3].url.raw_path == b"/v1/admin/config?revision=3"
    with pytest.raises(ValueError, match="timezone"):
        c.admin.put_discount(
            "X", max_uses=1, max_uses_per_user=1, expires_at=dt.datetime(2027, 1, 1)
        )


def test_extend_shape() -> None:
    decision = {"allowed": True, "status": 200, "code": "ok", "message": "ok"}
    rec = Recorder(
        httpx.Response(200, json={**decision, "hold": {"id": "h7", "expires_at": "t0"}}),
        httpx.Response(200, json={"hold_id": "h7", "expires_at": "t1"}),
    )
    with admin_client(rec) as c:
        hold = c.reserve("u1", None, {"type": "image"}).open()
        hold.extend(ttl_s=120)
    req = rec.requests[1]
    assert (req.method, req.url.raw_path) == ("POST", b"/v1/holds/h7/extend")
    assert rec.body(1) == {"ttl_s": 120}
    assert hold.expires_at == "t1"


def test_reset_is_not_resent_after_the_request_may_have_landed() -> None:
    rec = Recorder(httpx.ReadError("reset by peer"), httpx.Response(200, json={}))
    with admin_client(rec) as c, pytest.raises(Unavailable):
        c.admin.reset("u1")
    assert len(rec.requests) == 1, "a second reset would clear usage counted in between"


def test_connect_errors_are_retried_for_every_call() -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    with admin_client(rec) as c:
        c.admin.reset("u1")
    assert len(rec.requests) == 2, "the first attempt never reached the Worker"


def test_5xx_is_unavailable_after_bounded_retries() -> None:
    rec = Recorder(httpx.Response(502, text="bad gateway"))
    with admin_client(rec, retries=3) as c, pytest.raises(Unavailable) as info:
        c.usage("u1", None)
    assert len(rec.requests) == 4 and info.value.attempts == 4


def test_4xx_is_not_retried() -> None:
    rec = Recorder(httpx.Response(409, json={"code": "hold_committed", "message": "other figures"}))
    with admin_client(rec) as c, pytest.raises(ApiError) as info:
        c.admin.get_config()
    assert len(rec.requests) == 1
    assert (info.value.status, info.value.code) == (409, "hold_committed")


def test_insufficient_scope_names_the_scope() -> None:
    body = {"code": "insufficient_scope", "message": "needs settle", "required": "settle"}
    rec = Recorder(httpx.Response(403, json=body))
    with admin_client(rec) as c, pytest.raises(ApiError) as info:
        c.usage("u1", None)
    assert info.value.required == "settle"


def test_token_is_a_valid_hs256_jwt() -> None:
    with Client("http://x", jwt_secret="k3y") as c:
        sub = {"id": "s", "plan": "basic", "active": True, "starts_at": 1, "ends_at": 2}
        token = c.token("u1", sub, scope="usage usage settle", ttl_s=60)
    head, body, sig = token.split(".")
    expected = hmac.new(b"k3y", f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(head))) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(pad(body)))
    assert claims["scope"] == "usage settle"
    assert claims["exp"] - claims["iat"] == 60
    assert claims["subscription"] == sub


@pytest.mark.anyio
async def test_async_grant_and_import_shapes() -> None:
    rec = Recorder(httpx.Response(503), httpx.Response(201, json={"id": "g"}))
    async with AsyncClient(
        "http://tollgate.test",
        admin_token="adm",
        transport=httpx.MockTransport(rec),
        backoff_s=0.001,
    ) as c:
        await c.admin.grant("u1", metric="tokens", amount=10, idempotency_key="k1")
        await c.admin.import_usage("u1", subscription=None, entries=[])
    assert [r.url.raw_path for r in rec.requests] == [
        b"/v1/admin/users/u1/grants",
        b"/v1/admin/users/u1/grants",
        b"/v1/admin/users/u1/usage",
    ]
    assert [r.headers["idempotency-key"] for r in rec.requests[:2]] == ["k1", "k1"]
    assert json.loads(rec.requests[2].content) == {"subscription": None, "entries": []}


def test_bad_client_settings_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="fail"):
        Client("http://x", fail="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retries"):
        Client("http://x", retries=-1)
