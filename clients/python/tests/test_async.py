"""``AsyncClient`` against the real Worker, under the same cases as ``Client``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from support import Worker, all_unused, message, new_user, subscription, used
from tollgate import AsyncClient, Denied, Unavailable

pytestmark = pytest.mark.anyio

HOURLY_2 = "شما به حد مجاز پیام‌های ساعتی (۲ عدد) رسیده‌اید"


@pytest.fixture
async def aclient(worker: Worker) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        worker.url, jwt_secret=worker.jwt_secret, admin_token=worker.admin_token
    ) as c:
        yield c


async def test_happy_path(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("free")
    async with aclient.reserve(user, sub, message(100, 200)) as hold:
        assert hold.id is not None
        assert used(await aclient.usage(user, sub), "tokens", "1h") == 300
        result = await hold.commit(input_tokens=60, output_tokens=20)
    assert result is not None and result["committed"] is True
    snap = await aclient.usage(user, sub)
    assert used(snap, "messages", "1h") == 1
    assert used(snap, "tokens", "1h") == 80
    assert snap["holds"] == []


async def test_denial_with_persian_message(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("tiny")
    for _ in range(2):
        async with aclient.reserve(user, sub, message()) as hold:
            await hold.commit(input_tokens=1, output_tokens=1)
    with pytest.raises(Denied) as info:
        async with aclient.reserve(user, sub, message()):
            pytest.fail("the body of a denied reserve must not run")
    assert (info.value.status, info.value.code, info.value.message) == (
        429,
        "window_exceeded",
        HOURLY_2,
    )
    decision = await aclient.check(user, sub, message())
    assert (decision["allowed"], decision["status"], decision["message"]) == (False, 429, HOURLY_2)


async def test_exception_releases(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("free")
    assert all_unused(await aclient.usage(user, sub))
    with pytest.raises(KeyError):
        async with aclient.reserve(user, sub, message()) as hold:
            assert (await aclient.usage(user, sub))["holds"]
            raise KeyError("model call failed")
    assert hold.released
    assert all_unused(await aclient.usage(user, sub))


async def test_leaving_without_commit_releases(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("free")
    async with aclient.reserve(user, sub, message()) as hold:
        pass
    assert hold.released
    assert all_unused(await aclient.usage(user, sub))


async def test_same_key_holds_once(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("tiny")
    first = await aclient.reserve(user, sub, message(), idempotency_key="k-1").open()
    second = await aclient.reserve(user, sub, message(), idempotency_key="k-1").open()
    assert first.id == second.id
    snap = await aclient.usage(user, sub)
    assert len(snap["holds"]) == 1 and used(snap, "messages", "1h") == 1
    await first.commit(input_tokens=2, output_tokens=2)


class LoseFirstReserveAnswer(httpx.AsyncBaseTransport):
    """The first reserve reaches the Worker but its answer is lost."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.reserve_keys: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/v1/reserve":
            self.reserve_keys.append(request.headers["idempotency-key"])
            if len(self.reserve_keys) == 1:
                await response.aread()
                await response.aclose()
                raise httpx.ReadError("connection reset after the request was sent")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_retry_reuses_key_and_holds_once(worker: Worker) -> None:
    transport = LoseFirstReserveAnswer()
    user, sub = new_user("pa"), subscription("tiny")
    async with AsyncClient(worker.url, jwt_secret=worker.jwt_secret, transport=transport) as c:
        async with c.reserve(user, sub, message()) as hold:
            assert len(transport.reserve_keys) == 2
            assert transport.reserve_keys[0] == transport.reserve_keys[1] == hold.idempotency_key
            snap = await c.usage(user, sub)
            assert [h["id"] for h in snap["holds"]] == [hold.id]
            await hold.commit(input_tokens=1, output_tokens=1)
        assert used(await c.usage(user, sub), "messages", "1h") == 1


async def test_unavailable_fail_closed(stopped_worker: Worker) -> None:
    w = stopped_worker
    user, sub = new_user("pa"), subscription("free")
    async with AsyncClient(w.url, jwt_secret=w.jwt_secret, backoff_s=0.01) as c:
        with pytest.raises(Unavailable) as info:
            await c.check(user, sub, message())
        assert info.value.attempts == 3
        with pytest.raises(Unavailable):
            async with c.reserve(user, sub, message()):
                pytest.fail("unreachable")


async def test_unavailable_fail_open(stopped_worker: Worker) -> None:
    w = stopped_worker
    user, sub = new_user("pa"), subscription("free")
    async with AsyncClient(w.url, jwt_secret=w.jwt_secret, fail="open", backoff_s=0.01) as c:
        decision = await c.check(user, sub, message())
        assert decision["allowed"] is True and decision.get("fail_open") is True
        async with c.reserve(user, sub, message()) as hold:
            assert hold.id is None and hold.fail_open
            assert await hold.commit(input_tokens=1, output_tokens=1) is None
            assert await hold.release() is None


async def test_admin_and_redeem(aclient: AsyncClient) -> None:
    user, sub = new_user("pa"), subscription("free")
    code = "PYASYNC" + user[-8:].upper()
    await aclient.admin.put_discount(
        code, max_uses=5, max_uses_per_user=1, expires_at="2099-01-01T00:00:00Z"
    )
    assert (await aclient.redeem(user, sub, code))["redeemed"] is True
    with pytest.raises(Denied) as info:
        await aclient.redeem(user, sub, code)
    assert info.value.code == "discount_user_exhausted"
    async with aclient.reserve(user, sub, message()) as hold:
        await hold.commit(input_tokens=1, output_tokens=1)
    assert (await aclient.admin.user(user))["user"] == user
    await aclient.admin.reset(user)
    assert all_unused(await aclient.usage(user, sub))
