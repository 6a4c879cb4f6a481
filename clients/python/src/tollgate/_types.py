"""The JSON shapes of SPEC sections 4, 5 and 9, as TypedDicts for editors.

The client returns the Worker's JSON as it came (plain dicts): these types
only tell an editor and mypy which keys to expect. Keys that the SPEC marks
optional, or that only some answers carry, live in the ``total=False`` part.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Fail = Literal["open", "closed"]
"""What a client does when the Worker cannot be reached (SPEC §13)."""

Scope = Literal["usage", "reserve", "settle", "gateway"]
"""The token scopes of SPEC §5."""


class Subscription(TypedDict):
    """The user's binding to a plan, signed into every token (SPEC §1, §5)."""

    id: str
    plan: str
    active: bool
    starts_at: int
    ends_at: int


class _LimitBase(TypedDict):
    metric: str
    scope: str
    window: str


class Limit(_LimitBase, total=False):
    """One limit as decisions and snapshots show it."""

    chat_id: str | None
    limit: float
    used: float
    requested: float
    remaining: float
    resets_at: str | None
    retry_after_s: int | None
    credits: float
    from_credits: float
    message: str
    code: str
    status: int


class Violation(TypedDict, total=False):
    """A limit or rule the action broke (SPEC §4)."""

    code: str
    status: int
    message: str
    metric: str
    scope: str
    window: str
    limit: float
    used: float
    requested: float
    remaining: float
    resets_at: str | None
    retry_after_s: int | None


class HoldRef(TypedDict):
    """The hold an allowed reserve opened."""

    id: str
    expires_at: str


class _DecisionBase(TypedDict):
    allowed: bool
    status: int
    code: str
    message: str


class Decision(_DecisionBase, total=False):
    """The verdict of SPEC §4: allowed or not, why, and every limit that applied.

    A decision made up by a client that failed open (the Worker could not be
    reached and the caller chose ``fail="open"``) carries ``fail_open: True``.
    """

    retry_after_s: int | None
    violations: list[Violation]
    limits: list[Limit]
    warnings: list[dict[str, Any]]
    hold: HoldRef
    model: str
    fallback_from: str
    fail_open: bool


class CommitResult(TypedDict, total=False):
    """The answer of ``POST /v1/holds/{id}/commit``."""

    committed: bool
    hold_id: str
    late: bool
    duplicate: bool
    type: str
    model: str
    usage: dict[str, float]


class Snapshot(TypedDict, total=False):
    """The body of ``GET /v1/usage`` (SPEC §5, §6)."""

    subscription: Subscription | None
    plan: str | None
    as_of: str
    limits: list[Limit]
    holds: list[dict[str, Any]]
    grants: list[dict[str, Any]]


class Redemption(TypedDict, total=False):
    """The answer of an allowed ``POST /v1/discounts/{code}/redeem``."""

    redeemed: bool
    code: str
    uses: int
    uses_by_user: int


class MessageAction(TypedDict, total=False):
    """A ``message`` action (SPEC §3); any action is a dict with a ``type``."""

    type: Literal["message"]
    model: str
    input_tokens: int
    max_output_tokens: int
    chat_id: str
    kind: Literal["send", "regenerate", "edit"]


class ValidateAction(TypedDict, total=False):
    """The seed's ``validate_message`` pre-check as an action (SPEC §3)."""

    type: Literal["validate"]
    model: str
    generate_image: bool
    uploaded_files_count: int
    chat_id: str
