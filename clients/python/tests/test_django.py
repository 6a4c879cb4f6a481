"""``tollgate.django`` through Django's test client, on the example app
(examples/django_chat: the seed's ``send_message`` and ``validate_message``),
against the real Worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient as DjangoAsyncClient
from django.test import Client as DjangoClient
from django.test import override_settings

from chat import fake_model
from support import FREE_MODEL, IMAGE_MODEL, Worker, all_unused, new_user, subscription, used
from tollgate import Client
from tollgate.django import UNAVAILABLE_MESSAGE, aclose_async_client, validate_action

ALL_RESPECTED = "همه محدودیت‌ها رعایت شده‌اند"
HOURLY_2 = "شما به حد مجاز پیام‌های ساعتی (۲ عدد) رسیده‌اید"
IMAGES_DAILY_5 = "شما به حد مجاز تولید تصویر روزانه (۵ عدد) رسیده‌اید"  # the seed's example
MODEL_DENIED = "دسترسی به این مدل دیگر برای اشتراک شما فعال نیست"
SEND = "/api/chatbot/send_message/"
SEND_ASYNC = "/api/chatbot/send_message_async/"


def validate_url(chat: int = 7) -> str:
    return f"/api/chatbot/sessions/{chat}/validate_message/"


def tollgate_settings(url: str, secret: str, fail: str = "closed") -> dict[str, Any]:
    return {
        "URL": url,
        "JWT_SECRET": secret,
        "ADMIN_TOKEN": None,
        "FAIL": fail,
        "SUBJECT": "chat.subject.subject",
        "RETRIES": 1,
    }


@pytest.fixture
def web(worker: Worker) -> Iterator[DjangoClient]:
    with override_settings(TOLLGATE=tollgate_settings(worker.url, worker.jwt_secret)):
        yield DjangoClient()


def as_user(user: str, plan: str) -> dict[str, str]:
    """The example's stand-in for a logged-in user with a subscription."""
    return {"HTTP_X_DEMO_USER": user, "HTTP_X_DEMO_PLAN": plan}


def post(web: DjangoClient, path: str, body: Any, user: str, plan: str = "free") -> Any:
    return web.post(
        path, data=json.dumps(body), content_type="application/json", **as_user(user, plan)
    )


def usage_of(client: Client, user: str, plan: str) -> dict[str, Any]:
    # The example's subject: subscription id "<user>-<plan>".
    sub = subscription(plan, sub_id=f"{user}-{plan}")
    return dict(client.usage(user, sub))


# ---------------------------------------------------------------- the guard


def test_send_message_commits_the_reported_usage(web: DjangoClient, client: Client) -> None:
    user = new_user("dj")
    before = fake_model.calls
    r = post(web, SEND, {"message": "salam donya", "chat_id": 12}, user)
    assert r.status_code == 200, r.content
    reply = r.json()
    assert reply["reply"] == "echo: salam donya"
    assert fake_model.calls == before + 1
    snap = usage_of(client, user, "free")
    assert used(snap, "messages", "1h") == 1
    # What the model reported, not the estimate (input + max_tokens 512).
    total = reply["usage"]["input_tokens"] + reply["usage"]["output_tokens"]
    assert used(snap, "tokens", "1h") == total < 512
    assert snap["holds"] == []


def test_denial_answers_error_and_status_without_running_the_view(
    web: DjangoClient, client: Client
) -> None:
    user = new_user("dj")
    for _ in range(2):
        assert post(web, SEND, {"message": "hi"}, user, "tiny").status_code == 200
    before = fake_model.calls
    r = post(web, SEND, {"message": "hi"}, user, "tiny")
    assert r.status_code == 429
    assert r.json() == {"error": HOURLY_2}
    assert int(r["Retry-After"]) > 0
    assert fake_model.calls == before, "a denied request never reaches the model"
    assert used(usage_of(client, user, "tiny"), "messages", "1h") == 2


def test_access_denial_is_403_like_the_seed(web: DjangoClient) -> None:
    r = post(web, SEND, {"message": "hi", "model": "openai/gpt-4o"}, new_user("dj"))
    assert r.status_code == 403
    assert r.json() == {"error": MODEL_DENIED}


def test_no_subscription_is_403(web: DjangoClient) -> None:
    r = post(web, SEND, {"message": "hi"}, new_user("dj"), "none")
    assert r.status_code == 403
    assert r.json() == {"error": "شما اشتراک فعالی ندارید"}


def test_a_view_that_does_not_commit_releases(web: DjangoClient, client: Client) -> None:
    user = new_user("dj")
    r = post(web, SEND, {"message": "fail"}, user)
    assert r.status_code == 502
    assert all_unused(usage_of(client, user, "free"))


def test_an_exception_in_the_view_releases_and_propagates(
    web: DjangoClient, client: Client
) -> None:
    user = new_user("dj")
    with pytest.raises(RuntimeError, match="crashed"):
        post(web, SEND, {"message": "crash"}, user)
    assert all_unused(usage_of(client, user, "free"))
    # The free plan allows one request in flight: nothing is left holding it.
    assert post(web, SEND, {"message": "after"}, user).status_code == 200


def test_bad_input_is_400_with_the_problems(web: DjangoClient) -> None:
    r = post(web, SEND, {"model": FREE_MODEL}, new_user("dj"))  # no prompt, no estimate
    assert r.status_code == 400
    body = r.json()
    assert body["error"] and any(e["path"] == "input_tokens" for e in body["errors"])


def test_fail_closed_answers_503(stopped_worker: Worker) -> None:
    w = stopped_worker
    with override_settings(TOLLGATE=tollgate_settings(w.url, w.jwt_secret, "closed")):
        before = fake_model.calls
        r = post(DjangoClient(), SEND, {"message": "hi"}, new_user("dj"))
        assert r.status_code == 503
        assert r.json() == {"error": UNAVAILABLE_MESSAGE}
        assert fake_model.calls == before
        r = post(DjangoClient(), validate_url(), {}, new_user("dj"))
        assert r.status_code == 503


def test_fail_open_lets_the_view_run(stopped_worker: Worker) -> None:
    w = stopped_worker
    with override_settings(TOLLGATE=tollgate_settings(w.url, w.jwt_secret, "open")):
        r = post(DjangoClient(), SEND, {"message": "hi"}, new_user("dj"))
        assert r.status_code == 200 and r.json()["reply"] == "echo: hi"
        r = post(DjangoClient(), validate_url(), {"generate_image": True}, new_user("dj"))
        assert r.status_code == 200 and r.json() == {"valid": True, "message": ALL_RESPECTED}


@pytest.mark.anyio
async def test_async_view_guard(worker: Worker, client: Client) -> None:
    user = new_user("dja")
    headers = {"X-Demo-User": user, "X-Demo-Plan": "tiny"}
    statuses = []
    with override_settings(TOLLGATE=tollgate_settings(worker.url, worker.jwt_secret)):
        web = DjangoAsyncClient()
        try:
            for text in ("hello", "again", "third"):
                r = await web.post(
                    SEND_ASYNC,
                    data={"message": text},
                    content_type="application/json",
                    headers=headers,
                )
                statuses.append(r.status_code)
        finally:
            await aclose_async_client()
    assert statuses == [200, 200, 429]
    assert r.json() == {"error": HOURLY_2}
    assert used(usage_of(client, user, "tiny"), "messages", "1h") == 2


# ---------------------------------------------------------------- validate_message


def test_validate_message_allowed(web: DjangoClient, client: Client) -> None:
    user = new_user("dj")
    body = {"model": FREE_MODEL, "generate_image": False, "uploaded_files_count": 1, "message": "x"}
    r = post(web, validate_url(), body, user)
    assert r.status_code == 200
    assert r.json() == {"valid": True, "message": ALL_RESPECTED}
    assert all_unused(usage_of(client, user, "free")), "validate changes nothing"


def test_validate_message_image_limit_like_the_seed(web: DjangoClient, client: Client) -> None:
    user = new_user("dj")
    sub = subscription("tiny", sub_id=f"{user}-tiny")
    with client.reserve(user, sub, {"type": "image", "model": IMAGE_MODEL, "count": 5}) as hold:
        hold.commit(images=5)
    r = post(web, validate_url(), {"generate_image": True}, user, "tiny")
    assert r.status_code == 429
    assert r.json() == {"error": IMAGES_DAILY_5}


def test_validate_message_model_and_files(web: DjangoClient) -> None:
    user = new_user("dj")
    r = post(web, validate_url(), {"model": "openai/gpt-4o"}, user)
    assert (r.status_code, r.json()) == (403, {"error": MODEL_DENIED})
    # The free plan allows 3 files per chat: the URL's pk is the chat.
    r = post(web, validate_url(31), {"uploaded_files_count": 4}, user)
    assert r.status_code == 429 and "error" in r.json()


def test_validate_message_bad_requests(web: DjangoClient) -> None:
    user = new_user("dj")
    r = web.post(
        validate_url(), data="{not json", content_type="application/json", **as_user(user, "free")
    )
    assert r.status_code == 400 and "error" in r.json()
    r = post(web, validate_url(), ["a", "list"], user)
    assert r.status_code == 400
    r = web.get(validate_url(), **as_user(user, "free"))
    assert r.status_code == 405


def test_validate_action_reads_only_the_seed_fields() -> None:
    assert validate_action({"message": "hi", "generate_image": True, "chat_id": None}, 9) == {
        "type": "validate",
        "generate_image": True,
        "chat_id": "9",
    }
    assert validate_action({"chat_id": "c1"}, 9) == {"type": "validate", "chat_id": "c1"}
