"""Settings to run the example by hand against ``make dev`` (see ../README.md)."""

import os

SECRET_KEY = "example-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "chat.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

TOLLGATE = {
    "URL": os.environ.get("TOLLGATE_URL", "http://127.0.0.1:8787"),
    # The secret of the Worker's .dev.vars (make dev).
    "JWT_SECRET": os.environ.get("TOLLGATE_JWT_SECRET", ""),
    "ADMIN_TOKEN": os.environ.get("TOLLGATE_ADMIN_TOKEN"),
    "FAIL": os.environ.get("TOLLGATE_FAIL", "closed"),
    "SUBJECT": "chat.subject.subject",
}
