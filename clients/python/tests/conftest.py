"""Fixtures: the session's Worker, clients, and a minimal Django settings module.

The session starts the built Worker (worker/build/index.js) itself through
``worker_server.mjs`` (miniflare, as the Node Worker tests do) and stops it
at the end. Build it first: ``make worker`` (``make test-python`` does).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import django
import httpx
import pytest
from django.conf import settings

from support import EXAMPLE, TINY_PLAN, Worker, start_worker
from tollgate import Client

# ---------------------------------------------------------------- Django

# A minimal settings module, configured before any test imports Django code:
# the example app's URLs, no database, no middleware. TOLLGATE points at the
# session's Worker through override_settings in the Django tests.
sys.path.insert(0, str(EXAMPLE))

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="chat.urls",
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        DATABASES={},
        USE_TZ=True,
        TOLLGATE={"URL": "http://127.0.0.1:9", "SUBJECT": "chat.subject.subject"},
    )
    django.setup()


@pytest.fixture(scope="session")
def worker() -> Iterator[Worker]:
    """The session's Worker, with the tests' ``tiny`` plan added to the default config."""
    w = start_worker()
    try:
        with Client(w.url, admin_token=w.admin_token) as admin:
            config = admin.admin.get_config()["config"]
            config["plans"] = [p for p in config["plans"] if p["id"] != "tiny"] + [TINY_PLAN]
            admin.admin.put_config(config)
        yield w
    finally:
        w.stop()


@pytest.fixture
def stopped_worker() -> Worker:
    """A Worker that answered once and was then stopped: its URL refuses connections."""
    w = start_worker()
    assert httpx.get(w.url + "/healthz", timeout=10).status_code == 200
    w.stop()
    return w


@pytest.fixture
def client(worker: Worker) -> Iterator[Client]:
    with Client(worker.url, jwt_secret=worker.jwt_secret, admin_token=worker.admin_token) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
