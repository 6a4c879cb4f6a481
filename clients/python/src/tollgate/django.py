"""Tollgate in front of Django views, answering as the platform's views did.

Settings (``settings.TOLLGATE``)::

    TOLLGATE = {
        "URL": "http://127.0.0.1:8787",
        "JWT_SECRET": "...",
        "ADMIN_TOKEN": None,
        "FAIL": "closed",                       # or "open"
        "SUBJECT": "myapp.tollgate.subject",    # fn(request) -> (user_id, subscription or None)
        # optional: "LOCALE" ("fa" / "en"), "TIMEOUT" (s), "RETRIES"
    }

Views::

    @tollgate_guard(lambda request: {"type": "message", "model": ..., ...})
    def send_message(request):
        ...                                     # call the model
        request.tollgate_hold.commit(input_tokens=..., output_tokens=...)

A denial answers ``JsonResponse({"error": message}, status=decision["status"])``
without running the view — the seed's ``send_message`` answered
``JsonResponse({'error': message}, status=403)`` — with the Worker's Persian
message and its status (403 access, 429 quota, 413/415 files). The guarded
view runs with the open hold at ``request.tollgate_hold``; a view that returns
without committing releases it, an exception releases it and propagates.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

try:
    from django.conf import settings
    from django.core.signals import setting_changed
    from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
    from django.utils.module_loading import import_string
except ImportError as e:  # the client itself does not need Django
    raise ImportError("tollgate.django needs Django: pip install 'tollgate[django]'") from e

from ._protocol import ALL_RESPECTED
from ._types import Decision
from .aio import AsyncClient
from .client import Client
from .errors import ApiError, Denied, Unavailable

Subject = tuple[str | int, Mapping[str, Any] | None]
"""What ``SUBJECT`` answers: the user id and their subscription (or None)."""

ActionFromRequest = Callable[[HttpRequest], Mapping[str, Any]]

V = TypeVar("V", bound=Callable[..., Any])

UNAVAILABLE_MESSAGE = "سرویس بررسی محدودیت‌ها در دسترس نیست؛ لطفاً کمی بعد دوباره تلاش کنید"
"""The 503 answer when the Worker cannot be reached and ``FAIL`` is closed."""

BAD_BODY_MESSAGE = "درخواست نامعتبر است: بدنهٔ درخواست باید یک شیء JSON باشد"
"""The 400 answer of ``validate_message`` to a body that is not a JSON object."""

_VALIDATE_FIELDS = ("model", "generate_image", "uploaded_files_count", "chat_id")


# ---------------------------------------------------------------- settings


def _conf() -> dict[str, Any]:
    conf = getattr(settings, "TOLLGATE", None)
    if not isinstance(conf, dict) or not conf.get("URL"):
        raise RuntimeError('settings.TOLLGATE must be a dict with at least "URL"')
    return conf


def _client_kwargs(conf: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "jwt_secret": conf.get("JWT_SECRET"),
        "admin_token": conf.get("ADMIN_TOKEN"),
        "fail": conf.get("FAIL", "closed"),
        "locale": conf.get("LOCALE"),
    }
    if conf.get("TIMEOUT") is not None:
        kwargs["timeout"] = float(conf["TIMEOUT"])
    if conf.get("RETRIES") is not None:
        kwargs["retries"] = int(conf["RETRIES"])
    return kwargs


_lock = threading.Lock()
_client: Client | None = None
# One AsyncClient per event loop: httpx's async pool belongs to the loop it
# was made in.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def get_client() -> Client:
    """The process's ``Client`` for ``settings.TOLLGATE`` (made once, thread-safe)."""
    global _client
    with _lock:
        if _client is None:
            conf = _conf()
            _client = Client(conf["URL"], **_client_kwargs(conf))
        return _client


def get_async_client() -> AsyncClient:
    """The running event loop's ``AsyncClient`` for ``settings.TOLLGATE``."""
    loop = asyncio.get_running_loop()
    with _lock:
        client = _async_clients.get(loop)
        if client is None:
            conf = _conf()
            client = AsyncClient(conf["URL"], **_client_kwargs(conf))
            _async_clients[loop] = client
        return client


async def aclose_async_client() -> None:
    """Close the running loop's ``AsyncClient`` (at ASGI shutdown, or at the end
    of an async test): its connections belong to this loop and would
    otherwise be left for the garbage collector."""
    loop = asyncio.get_running_loop()
    with _lock:
        client = _async_clients.pop(loop, None)
    if client is not None:
        await client.aclose()


def _forget_clients(*, setting: str, **_: Any) -> None:
    """``override_settings(TOLLGATE=...)`` and friends take effect at once."""
    global _client
    if setting != "TOLLGATE":
        return
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
        _async_clients.clear()


setting_changed.connect(_forget_clients)


def subject(request: HttpRequest) -> tuple[str, Mapping[str, Any] | None]:
    """Who is asking: ``SUBJECT`` called on the request, the id as a string."""
    path = _conf().get("SUBJECT")
    if not path:
        raise RuntimeError('settings.TOLLGATE["SUBJECT"] must name fn(request) -> (user, sub)')
    fn = cast(Callable[[HttpRequest], Subject], import_string(path))
    user, sub = fn(request)
    return str(user), sub


# ---------------------------------------------------------------- answers


def denial_response(decision: Decision) -> JsonResponse:
    """The seed's answer to a refusal: ``{"error": message}`` with the decision's status."""
    resp = JsonResponse({"error": decision.get("message", "")}, status=int(decision["status"]))
    retry = decision.get("retry_after_s")
    if isinstance(retry, int):
        resp["Retry-After"] = str(retry)
    return resp


def _error_response(err: ApiError | Unavailable) -> JsonResponse | None:
    """Bad input (400) and an unreachable Worker (503) answer JSON; other API
    errors (a wrong secret, a missing scope) are the server's bug: None, and
    the caller re-raises."""
    if isinstance(err, Unavailable):
        return JsonResponse({"error": UNAVAILABLE_MESSAGE}, status=503)
    if err.status == 400:
        body: dict[str, Any] = {"error": err.message}
        if err.errors:
            body["errors"] = err.errors
        return JsonResponse(body, status=400)
    return None


# ---------------------------------------------------------------- the guard


def tollgate_guard(action_from_request: ActionFromRequest) -> Callable[[V], V]:
    """Reserve ``action_from_request(request)`` for the request's user before the view.

    Works on plain and on ``async def`` views (the latter through
    ``AsyncClient``).
    """

    def decorate(view: V) -> V:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def guarded_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                user, sub = subject(request)
                action = action_from_request(request)
                try:
                    hold = await get_async_client().reserve(user, sub, action).open()
                except Denied as e:
                    return denial_response(e.decision)
                except (ApiError, Unavailable) as e:
                    resp = _error_response(e)
                    if resp is None:
                        raise
                    return resp
                async with hold:
                    request.tollgate_hold = hold  # type: ignore[attr-defined]
                    return await cast(Callable[..., Awaitable[Any]], view)(request, *args, **kwargs)

            return cast(V, guarded_async)

        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            user, sub = subject(request)
            action = action_from_request(request)
            try:
                hold = get_client().reserve(user, sub, action).open()
            except Denied as e:
                return denial_response(e.decision)
            except (ApiError, Unavailable) as e:
                resp = _error_response(e)
                if resp is None:
                    raise
                return resp
            with hold:
                request.tollgate_hold = hold  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)

        return cast(V, guarded)

    return decorate


# ---------------------------------------------------------------- validate_message


def validate_action(body: Mapping[str, Any], chat_id: Any = None) -> dict[str, Any]:
    """The seed's pre-check body as a ``validate`` action (SPEC §3).

    Only the four fields of the seed's endpoint are read (a client may send
    more, such as the message text); a chat id from the URL fills in when the
    body has none, and numeric ids (the seed's session pks) become strings.
    """
    action: dict[str, Any] = {"type": "validate"}
    for key in _VALIDATE_FIELDS:
        if key in body and body[key] is not None:
            action[key] = body[key]
    if "chat_id" not in action and chat_id is not None:
        action["chat_id"] = chat_id
    if isinstance(action.get("chat_id"), int) and not isinstance(action["chat_id"], bool):
        action["chat_id"] = str(action["chat_id"])
    return action


def validate_message(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``POST`` ``{"model"?, "generate_image"?, "uploaded_files_count"?, "chat_id"?}``.

    200 ``{"valid": true, "message": "همه محدودیت‌ها رعایت شده‌اند"}``, or the
    denial as ``{"error": message}`` with the decision's status. Mount it
    where the seed had it, e.g.
    ``path("api/chatbot/sessions/<int:pk>/validate_message/", validate_message)``
    (the ``pk`` or ``chat_id`` of the URL is the chat when the body names none).
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        body = json.loads(request.body) if request.body else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JsonResponse({"error": BAD_BODY_MESSAGE}, status=400)
    action = validate_action(body, kwargs.get("chat_id", kwargs.get("pk")))
    user, sub = subject(request)
    try:
        decision = get_client().check(user, sub, action)
    except (ApiError, Unavailable) as e:
        resp = _error_response(e)
        if resp is None:
            raise
        return resp
    if decision["allowed"]:
        return JsonResponse({"valid": True, "message": ALL_RESPECTED})
    return denial_response(decision)


__all__ = [
    "ALL_RESPECTED",
    "UNAVAILABLE_MESSAGE",
    "aclose_async_client",
    "denial_response",
    "get_async_client",
    "get_client",
    "subject",
    "tollgate_guard",
    "validate_action",
    "validate_message",
]
