"""The seed's ``send_message`` flow with Tollgate in front.

Before (``chatbot/views.py``)::

    within_limit, message = UsageService.comprehensive_check(
        request.user, ai_model, subscription_type
    )
    if not within_limit:
        return JsonResponse({'error': message}, status=403)
    ...                                             # call OpenRouter, save usage

After: ``@tollgate_guard`` reserves the message (denials answer
``{"error": message}`` with the decision's status, Persian by default), the
view calls the model and commits the usage the provider reported. A call that
fails is not committed, so its hold is released; an exception releases it too
and propagates.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from tollgate.django import tollgate_guard, validate_message

from . import fake_model

DEFAULT_MODEL = "meta-llama/llama-3.3-8b-instruct:free"
DEFAULT_MAX_TOKENS = 512

__all__ = ["send_message", "send_message_async", "validate_message"]


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def message_action(request: HttpRequest) -> dict[str, Any]:
    """What the request asks, as a ``message`` action (SPEC §3).

    The input is estimated from the prompt and the output from ``max_tokens``;
    the commit replaces both with what the model reported. A body without a
    prompt gives an action the Worker refuses as bad input (400).
    """
    body = _body(request)
    prompt = body.get("message")
    action: dict[str, Any] = {
        "type": "message",
        "model": body.get("model", DEFAULT_MODEL),
        "max_output_tokens": body.get("max_tokens", DEFAULT_MAX_TOKENS),
        "kind": "send",
    }
    if isinstance(prompt, str):
        action["input_tokens"] = fake_model.count_tokens(prompt) + 12
    if body.get("chat_id") is not None:
        action["chat_id"] = str(body["chat_id"])
    return action


@require_POST
@tollgate_guard(message_action)
def send_message(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    model = body.get("model", DEFAULT_MODEL)
    try:
        reply = fake_model.complete(model, body["message"], body.get("max_tokens", 512))
    except fake_model.UpstreamError as e:
        # Not committed: leaving the view releases the hold.
        return JsonResponse({"error": str(e)}, status=502)
    request.tollgate_hold.commit(  # type: ignore[attr-defined]
        input_tokens=reply.input_tokens, output_tokens=reply.output_tokens
    )
    return JsonResponse(
        {
            "reply": reply.text,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }
    )


@require_POST
@tollgate_guard(message_action)
async def send_message_async(request: HttpRequest) -> HttpResponse:
    """The same under ASGI: the guard uses ``AsyncClient``, the commit is awaited."""
    body = _body(request)
    reply = fake_model.complete(body.get("model", DEFAULT_MODEL), body["message"], 512)
    await request.tollgate_hold.commit(  # type: ignore[attr-defined]
        input_tokens=reply.input_tokens, output_tokens=reply.output_tokens
    )
    return JsonResponse({"reply": reply.text})
