"""Tollgate for the platform's Python backend (SPEC revision 2, section 13).

    from tollgate import Client, Denied

    tg = Client("http://127.0.0.1:8787", jwt_secret=..., admin_token=...)
    with tg.reserve("u1", sub, action) as hold:     # raises Denied
        reply = call_model(...)
        hold.commit(input_tokens=..., output_tokens=...)

``tollgate.django`` puts the same in front of Django views.
"""

from ._types import (
    CommitResult,
    Decision,
    Fail,
    HoldRef,
    Limit,
    MessageAction,
    Redemption,
    Scope,
    Snapshot,
    Subscription,
    ValidateAction,
    Violation,
)
from .aio import AsyncAdmin, AsyncClient, AsyncHold, AsyncReservation
from .client import Admin, Client, Hold, Reservation
from .errors import ApiError, Denied, TollgateError, Unavailable

__version__ = "0.2.0"

__all__ = [
    "Admin",
    "ApiError",
    "AsyncAdmin",
    "AsyncClient",
    "AsyncHold",
    "AsyncReservation",
    "Client",
    "CommitResult",
    "Decision",
    "Denied",
    "Fail",
    "Hold",
    "HoldRef",
    "Limit",
    "MessageAction",
    "Redemption",
    "Reservation",
    "Scope",
    "Snapshot",
    "Subscription",
    "TollgateError",
    "Unavailable",
    "ValidateAction",
    "Violation",
    "__version__",
]
