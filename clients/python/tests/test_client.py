"""``Client`` against the real Worker (workerd via miniflare, SQLite Durable Objects)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from support import (
    IMAGE_MODEL,
    Worker,
    all_unused,
    message,
    new_user,
    subscription,
    used,
)
from tollgate import ApiError, Client, Denied, Unavailable

HOURLY_2 = "شما به حد مجاز پیام‌های ساعتی (۲ عدد) رسیده‌اید"
MODEL_DENIED = "دسترسی به این مدل دیگر برای اشتراک شما فعال نیست"  # the seed's wording
ALL_RESPECTED = "همه محدودیت‌ها رعایت شده‌اند"


def claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


# ---------------------------------------------------------------- happy path


def test_reserve_commit_then_usage_shows_it(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    with client.reserve(user, sub, message(100, 200)) as hold:
        assert hold.id is not None
        assert hold.decision["allowed"] is True
        assert hold.decision["message"] == ALL_RESPECTED
        # While open, the estimate counts (SPEC §4: `used` includes open holds).
        during = client.usage(user, sub)
        assert used(during, "tokens", "1h") == 300
        assert [h["id"] for h in during["holds"]] == [hold.id]
        result = hold.commit(input_tokens=90, output_tokens=40)
    assert result is not None
    assert result["committed"] is True
    assert result["hold_id"] == hold.id
    assert hold.committed

    snap = client.usage(user, sub)
    assert snap["plan"] == "free"
    assert used(snap, "messages", "1h") == 1
    assert used(snap, "tokens", "1h") == 130  # the real figures replaced the estimate
    assert snap["holds"] == []


def test_check_is_a_dry_run(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    decision = client.check(user, sub, message(), explain=True)
    assert decision["allowed"] is True
    assert decision["status"] == 200
    assert decision["limits"], "explain=True fills limits"
    assert all_unused(client.usage(user, sub))


def test_english_on_request(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    decision = client.check(user, sub, message(model="openai/gpt-4o"), locale="en")
    assert decision["message"] == "Your subscription does not include this model"


# ---------------------------------------------------------------- denials


def test_quota_denial_raises_with_persian_message_and_429(client: Client) -> None:
    user, sub = new_user(), subscription("tiny")
    for _ in range(2):
        with client.reserve(user, sub, message()) as hold:
            hold.commit(input_tokens=10, output_tokens=10)
    with pytest.raises(Denied) as info, client.reserve(user, sub, message()):
        pytest.fail("the body of a denied reserve must not run")
    err = info.value
    assert err.status == 429
    assert err.code == "window_exceeded"
    assert err.message == HOURLY_2
    assert err.decision["allowed"] is False
    assert err.decision["violations"][0]["metric"] == "messages"
    # SPEC rev. 2 bounds it by the window's length.
    assert isinstance(err.retry_after_s, int) and 0 < err.retry_after_s <= 3600
    # check answers the same decision without raising.
    decision = client.check(user, sub, message())
    assert decision["allowed"] is False
    assert (decision["status"], decision["message"]) == (429, HOURLY_2)
    # A denied reserve changed nothing.
    assert used(client.usage(user, sub), "messages", "1h") == 2


def test_access_denial_is_403_with_the_seed_wording(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    with pytest.raises(Denied) as info, client.reserve(user, sub, message(model="openai/gpt-4o")):
        pytest.fail("unreachable")
    assert (info.value.status, info.value.code) == (403, "model_not_allowed")
    assert info.value.message == MODEL_DENIED


def test_no_subscription_is_denied(client: Client) -> None:
    with pytest.raises(Denied) as info, client.reserve(new_user(), None, message()):
        pytest.fail("unreachable")
    assert (info.value.status, info.value.code) == (403, "subscription_missing")


def test_bad_action_is_an_api_error_listing_the_problem(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    bad = {"type": "message", "input_tokens": -1, "max_output_tokens": 10}
    with pytest.raises(ApiError) as info:
        client.check(user, sub, bad)
    assert info.value.status == 400
    assert info.value.code == "bad_request"
    assert {e["path"] for e in info.value.errors} >= {"model", "input_tokens"}


def test_a_wrong_secret_is_401(worker: Worker) -> None:
    with Client(worker.url, jwt_secret="not-the-secret") as c, pytest.raises(ApiError) as info:
        c.usage(new_user(), subscription())
    assert info.value.status == 401


def test_bad_user_id_fails_before_any_request(client: Client) -> None:
    with pytest.raises(ValueError, match="user id"):
        client.check("no spaces allowed", subscription(), message())


# ---------------------------------------------------------------- release


def test_exception_inside_reserve_releases_and_propagates(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    before = client.usage(user, sub)
    assert all_unused(before)
    with pytest.raises(ZeroDivisionError), client.reserve(user, sub, message()) as hold:
        assert client.usage(user, sub)["holds"], "the hold is open inside the block"
        _ = 1 / 0
    assert hold.released and not hold.committed
    after = client.usage(user, sub)
    assert all_unused(after)
    assert [lim["used"] for lim in after["limits"]] == [lim["used"] for lim in before["limits"]]


def test_leaving_without_commit_releases(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    with client.reserve(user, sub, message()) as hold:
        pass
    assert hold.released
    assert all_unused(client.usage(user, sub))
    # The free plan allows one request in flight: the slot is free again.
    with client.reserve(user, sub, message()) as again:
        again.commit(input_tokens=1, output_tokens=1)


# ---------------------------------------------------------------- idempotency


def test_same_key_twice_holds_once(client: Client) -> None:
    user, sub = new_user(), subscription("tiny")
    first = client.reserve(user, sub, message(100, 100), idempotency_key="msg-42").open()
    second = client.reserve(user, sub, message(100, 100), idempotency_key="msg-42").open()
    assert first.id == second.id
    snap = client.usage(user, sub)
    assert len(snap["holds"]) == 1
    assert used(snap, "messages", "1h") == 1
    first.commit(input_tokens=50, output_tokens=50)
    assert used(client.usage(user, sub), "messages", "1h") == 1


class LoseFirstReserveAnswer(httpx.BaseTransport):
    """Forwards to the Worker, but the first reserve's answer is lost on the
    way back (a read error after the Worker held): the client must retry with
    the same key and get the same hold, never a second one."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.reserve_keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == "/v1/reserve":
            self.reserve_keys.append(request.headers["idempotency-key"])
            if len(self.reserve_keys) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset after the request was sent")
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_retried_reserve_reuses_its_key_and_holds_once(worker: Worker) -> None:
    transport = LoseFirstReserveAnswer()
    user, sub = new_user(), subscription("tiny")
    with Client(worker.url, jwt_secret=worker.jwt_secret, transport=transport) as c:
        with c.reserve(user, sub, message()) as hold:
            assert len(transport.reserve_keys) == 2, "the lost answer was retried"
            assert transport.reserve_keys[0] == transport.reserve_keys[1] == hold.idempotency_key
            snap = c.usage(user, sub)
            assert [h["id"] for h in snap["holds"]] == [hold.id]
            assert used(snap, "messages", "1h") == 1
            hold.commit(input_tokens=5, output_tokens=5)
        assert used(c.usage(user, sub), "messages", "1h") == 1


def test_commit_twice_is_idempotent(client: Client) -> None:
    user, sub = new_user(), subscription("free")
    hold = client.reserve(user, sub, message()).open()
    first = hold.commit(input_tokens=7, output_tokens=8)
    again = hold.commit(input_tokens=7, output_tokens=8)
    assert first is not None and again is not None
    assert first["duplicate"] is False and again["duplicate"] is True
    assert used(client.usage(user, sub), "tokens", "1h") == 15


# ---------------------------------------------------------------- Unavailable


def test_unavailable_when_the_worker_is_stopped_fail_closed(stopped_worker: Worker) -> None:
    w = stopped_worker
    user, sub = new_user(), subscription("free")
    with Client(w.url, jwt_secret=w.jwt_secret, retries=2, backoff_s=0.01) as c:
        assert c.fail == "closed"
        with pytest.raises(Unavailable) as info:
            c.check(user, sub, message())
        assert info.value.attempts == 3, "bounded retries: 1 + 2"
        with pytest.raises(Unavailable), c.reserve(user, sub, message()):
            pytest.fail("unreachable")
        with pytest.raises(Unavailable):
            c.usage(user, sub)


def test_fail_open_answers_allowed_and_a_hold_that_does_nothing(stopped_worker: Worker) -> None:
    w = stopped_worker
    user, sub = new_user(), subscription("free")
    with Client(w.url, jwt_secret=w.jwt_secret, fail="open", backoff_s=0.01) as c:
        decision = c.check(user, sub, message())
        assert decision["allowed"] is True and decision["status"] == 200
        assert decision.get("fail_open") is True
        with c.reserve(user, sub, message()) as hold:
            assert hold.id is None and hold.fail_open
            assert hold.commit(input_tokens=1, output_tokens=1) is None
            assert hold.release() is None
        # Reads have no open answer: they still raise.
        with pytest.raises(Unavailable):
            c.usage(user, sub)


def test_worker_lost_between_reserve_and_commit() -> None:
    from support import start_worker

    w = start_worker()
    user, sub = new_user(), subscription("free")
    try:
        closed = Client(w.url, jwt_secret=w.jwt_secret, backoff_s=0.01)
        opened = Client(w.url, jwt_secret=w.jwt_secret, fail="open", backoff_s=0.01)
        hold_closed = closed.reserve(user, sub, message(), idempotency_key="a").open()
        hold_open = opened.reserve(new_user(), sub, message(), idempotency_key="b").open()
    finally:
        w.stop()
    # fail closed: the commit raises (after its retries), and leaving the block
    # does not release a hold whose commit may have landed.
    with pytest.raises(Unavailable), hold_closed:
        hold_closed.commit(input_tokens=1, output_tokens=1)
    assert not hold_closed.released
    # fail open: the commit is not confirmed and says so with None.
    with hold_open:
        assert hold_open.commit(input_tokens=1, output_tokens=1) is None
    closed.close()
    opened.close()


# ---------------------------------------------------------------- tokens


def test_browser_token_has_usage_scope_and_works_for_reads(client: Client, worker: Worker) -> None:
    user, sub = new_user(), subscription("free")
    token = client.token(user, sub)
    c = claims(token)
    assert c["sub"] == user and c["scope"] == "usage" and c["subscription"] == sub
    assert c["exp"] - c["iat"] == 600
    r = httpx.get(worker.url + "/v1/usage", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["plan"] == "free"
    assert claims(client.token(user, sub, scope=["reserve", "settle"], ttl_s=60))["scope"] == (
        "reserve settle"
    )
    with pytest.raises(ValueError, match="scope"):
        client.token(user, sub, scope="admin")


def test_backend_calls_carry_usage_reserve_settle() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(claims(request.headers["authorization"].split()[1])["scope"])
        if request.url.path == "/v1/reserve":
            decision = {"allowed": True, "status": 200, "code": "ok", "message": "ok"}
            return httpx.Response(200, json={**decision, "hold": {"id": "h1", "expires_at": "x"}})
        return httpx.Response(200, json={"allowed": True, "status": 200, "code": "ok"})

    with Client(
        "http://tollgate.test", jwt_secret="s", transport=httpx.MockTransport(handler)
    ) as c:
        c.check("u1", None, message())
        with c.reserve("u1", None, message()) as hold:
            hold.commit(input_tokens=1, output_tokens=1)
    assert seen == ["usage reserve settle"] * 3


# ---------------------------------------------------------------- redeem and admin


def test_redeem_once_then_denied(client: Client) -> None:
    code = f"PY{new_user('c')[2:].upper().replace('-', '')}"
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    rule = client.admin.put_discount(
        code, max_uses=10, max_uses_per_user=1, expires_at=expires, plans=["free"]
    )
    assert rule["code"] == code and rule["max_uses_per_user"] == 1
    user, sub = new_user(), subscription("free")
    first = client.redeem(user, sub, code, idempotency_key="r1")
    assert first["redeemed"] is True and first["uses_by_user"] == 1
    # The same key again answers the first answer: not a second redemption.
    assert client.redeem(user, sub, code, idempotency_key="r1") == first
    with pytest.raises(Denied) as info:
        client.redeem(user, sub, code)
    assert (info.value.status, info.value.code) == (403, "discount_user_exhausted")


def test_a_code_with_a_grant_credits_the_redeemer_once(client: Client) -> None:
    code = f"PYG{new_user('g')[2:].upper().replace('-', '')}"
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    grant = {"metric": "tokens", "amount": 777, "expires_in_days": 7}
    rule = client.admin.put_discount(
        code, max_uses=10, max_uses_per_user=1, expires_at=expires, grant=grant
    )
    assert rule["grant"] == grant
    user, sub = new_user(), subscription("free")
    first = client.redeem(user, sub, code, idempotency_key="g1")
    assert first["grant_id"] == f"discount:{code}:1"
    assert client.redeem(user, sub, code, idempotency_key="g1") == first
    grants = client.usage(user, sub)["grants"]
    assert [(g["id"], g["source"], g["remaining"]) for g in grants] == [
        (f"discount:{code}:1", "discount", 777)
    ]


def test_admin_user_and_reset(client: Client) -> None:
    user, sub = new_user(), subscription("tiny")
    with client.reserve(user, sub, message()) as hold:
        hold.commit(input_tokens=3, output_tokens=4)
    view = client.admin.user(user)
    assert view["user"] == user and view["plan"] == "tiny"
    client.admin.reset(user, metrics=["messages"])
    assert used(client.usage(user, sub), "messages", "1h") == 0
    client.admin.reset(user)
    assert all_unused(client.usage(user, sub))


def test_admin_config_round_trip_and_bad_config(client: Client) -> None:
    current = client.admin.get_config()
    assert any(p["id"] == "tiny" for p in current["config"]["plans"])
    with pytest.raises(ApiError) as info:
        client.admin.put_config({"version": 1, "plans": "nope"})
    assert info.value.status == 400 and info.value.errors
    assert client.admin.get_config()["revision"] == current["revision"], "never half-applied"


def test_image_action(client: Client) -> None:
    user, sub = new_user(), subscription("tiny")
    with client.reserve(user, sub, {"type": "image", "model": IMAGE_MODEL, "count": 2}) as hold:
        hold.commit(images=2)
    assert used(client.usage(user, sub), "images", "day") == 2


def test_admin_calls_need_the_admin_token(worker: Worker) -> None:
    with (
        Client(worker.url, jwt_secret=worker.jwt_secret) as c,
        pytest.raises(Exception, match="admin_token"),
    ):
        c.admin.get_config()
