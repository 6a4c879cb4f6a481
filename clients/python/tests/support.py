"""Helpers of the Python tests: the real Worker in workerd, subscriptions, actions.

The session starts the built Worker (worker/build/index.js) itself through
``worker_server.mjs`` (miniflare, as the Node Worker tests do) and stops it
at the end. Build it first: ``make worker`` (``make test-python`` does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
ROOT = PACKAGE.parent.parent
LAUNCHER = HERE / "worker_server.mjs"
WORKER_SCRIPT = ROOT / "worker" / "build" / "index.js"
EXAMPLE = PACKAGE / "examples" / "django_chat"

FREE_MODEL = "meta-llama/llama-3.3-8b-instruct:free"
IMAGE_MODEL = "openai/gpt-image-1"

# The plan the tests add to the default config: small enough to exhaust.
TINY_PLAN: dict[str, Any] = {
    "id": "tiny",
    "active": True,
    "tier": 0,
    "models": ["*:free", IMAGE_MODEL],
    "limits": [
        {"metric": "messages", "window": "1h", "max": 2},
        {"metric": "images", "window": "day", "max": 5},
    ],
    "max_concurrent": 4,
}

# ---------------------------------------------------------------- the Worker


@dataclass
class Worker:
    """A running Worker: its URL and the test secrets it was started with."""

    url: str
    jwt_secret: str
    admin_token: str
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        """Close its stdin (the launcher then stops workerd) and wait."""
        if self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _node() -> str:
    """Node 24 from the repo's node_modules (what the Node Worker tests use)."""
    local = ROOT / "node_modules" / ".bin" / "node"
    found = os.environ.get("TOLLGATE_NODE") or (str(local) if local.exists() else None)
    found = found or shutil.which("node")
    if not found:
        pytest.fail("node not found: run scripts/install-tools.sh (or make tools)")
    return found


def start_worker(timeout_s: float = 90.0) -> Worker:
    """Start a fresh Worker (in-memory state) and wait for its URL line."""
    if not WORKER_SCRIPT.exists():
        pytest.fail(f"{WORKER_SCRIPT.relative_to(ROOT)} is missing: run `make worker` first")
    proc = subprocess.Popen(
        [_node(), str(LAUNCHER)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    if not line or not line[0].strip():
        proc.kill()
        proc.wait()
        pytest.fail(f"worker_server.mjs gave no URL within {timeout_s} s (exit {proc.poll()})")
    info = json.loads(line[0])
    return Worker(info["url"], info["jwt_secret"], info["admin_token"], proc)


# ---------------------------------------------------------------- helpers


def new_user(prefix: str = "py") -> str:
    """A user id no other test uses (each test starts from zero usage)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def subscription(plan: str = "free", sub_id: str | None = None) -> dict[str, Any]:
    """A subscription on ``plan`` that started a day ago and ends in 30 days."""
    now = int(time.time())
    return {
        "id": sub_id or f"s-{uuid.uuid4().hex[:8]}",
        "plan": plan,
        "active": True,
        "starts_at": now - 86400,
        "ends_at": now + 30 * 86400,
    }


def message(
    input_tokens: int = 100, max_output_tokens: int = 200, model: str = FREE_MODEL
) -> dict[str, Any]:
    """A ``message`` action on the default config's free model."""
    return {
        "type": "message",
        "model": model,
        "input_tokens": input_tokens,
        "max_output_tokens": max_output_tokens,
        "kind": "send",
    }


def used(snapshot: dict[str, Any], metric: str, window: str, scope: str = "all") -> Any:
    """``used`` of one limit of a usage snapshot."""
    for lim in snapshot["limits"]:
        if lim["metric"] == metric and lim["window"] == window and lim["scope"] == scope:
            return lim["used"]
    raise AssertionError(f"no {metric}/{scope}/{window} limit in {snapshot['limits']}")


def all_unused(snapshot: dict[str, Any]) -> bool:
    """No limit counts anything and no hold is open."""
    return all(lim["used"] == 0 for lim in snapshot["limits"]) and snapshot["holds"] == []
