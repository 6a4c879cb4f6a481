"""A stand-in for the model provider (OpenRouter in the seed): no network.

It answers with a short reply and reports its usage the way providers do
(prompt and completion tokens), so the view commits real figures rather than
the estimate it reserved. Prompts ``"fail"`` and ``"crash"`` make it fail,
for the two ways a real call goes wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

calls = 0
"""How many times the model was called (the tests read it: a denied request
must never reach the model)."""


class UpstreamError(Exception):
    """The provider answered with an error (the view answers 502)."""


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int


def count_tokens(text: str) -> int:
    """A rough token count: about one token per four characters."""
    return max(1, len(text) // 4)


def complete(model: str, prompt: str, max_tokens: int) -> Reply:
    """Answer ``prompt``; usage as the provider would report it."""
    global calls
    calls += 1
    if prompt == "fail":
        raise UpstreamError(f"{model}: upstream answered 503")
    if prompt == "crash":
        raise RuntimeError("the model client crashed")
    text = f"echo: {prompt}"[: max_tokens * 4]
    return Reply(
        text=text, input_tokens=count_tokens(prompt) + 12, output_tokens=count_tokens(text)
    )
