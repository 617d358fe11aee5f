"""Settings for the test suite: SQLite in a temporary folder, or PostgreSQL when DATABASE_URL is set."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("CANLIAN_DATA_DIR", tempfile.mkdtemp(prefix="canlian-test-"))

from .base import *  # noqa: F403
from .base import DATA_DIR

SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdef"
CANLIAN_ENCRYPTION_KEY = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0wMDA="
CANLIAN_INDEX_KEY = "dGVzdC1pbmRleC1rZXktMzItYnl0ZXMtMDAwMDAwMDA="
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(DATA_DIR) / "uploads"
if not os.environ.get("DATABASE_URL"):
    DATABASES["default"]["NAME"] = str(Path(DATA_DIR) / "test.sqlite3")  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATA_DIR) / "test-run.sqlite3")}  # noqa: F405
# The suite's view tests sign users in with force_login (no second factor): the sign-in steps are tested with
# CANLIAN_SECOND_FACTOR_REQUIRED = True in canlian/accounts/tests. Demo users behave as under dev settings.
CANLIAN_SECOND_FACTOR_REQUIRED = False
CANLIAN_DEMO_SIGNIN_EXEMPT = True
