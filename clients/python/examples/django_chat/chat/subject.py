"""Who is asking: ``settings.TOLLGATE["SUBJECT"]`` points here.

On the real platform this reads the logged-in user and their active
``UserSubscription`` (the seed's ``user.get_subscription_type()``)::

    def subject(request):
        user = request.user
        us = UserSubscription.objects.filter(user=user, is_active=True).first()
        if us is None:
            return user.pk, None            # Tollgate answers subscription_missing (403)
        return user.pk, {
            "id": str(us.pk),
            "plan": us.subscription_type.name,
            "active": us.is_active,
            "starts_at": int(us.start_date.timestamp()),
            "ends_at": int(us.end_date.timestamp()),
        }

This example has no database: the demo headers ``X-Demo-User`` and
``X-Demo-Plan`` stand in for the session and the subscription row.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest

DAY = 86400


def subject(request: HttpRequest) -> tuple[str, dict[str, Any] | None]:
    user = request.headers.get("X-Demo-User", "demo-user")
    plan = request.headers.get("X-Demo-Plan", "free")
    if plan == "none":
        return user, None
    now = int(time.time())
    # A 30-day subscription that started yesterday (the seed's duration_days).
    return user, {
        "id": f"{user}-{plan}",
        "plan": plan,
        "active": True,
        "starts_at": now - DAY,
        "ends_at": now + 30 * DAY,
    }
