"""Embedded default: what `make run` and the `canlian` command use on a laptop."""

from .base import *  # noqa: F403
from .base import DATA_DIR, KEYS_DIR

DEBUG = False
SECRET_KEY_FILE = KEYS_DIR / "secret_key"


def _secret_key() -> str:
    import os
    import secrets
    import shutil

    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    KEYS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    legacy = DATA_DIR / "secret_key"  # before the key folder was separate
    if legacy.exists() and not SECRET_KEY_FILE.exists():
        shutil.move(legacy, SECRET_KEY_FILE)
    if not SECRET_KEY_FILE.exists():
        SECRET_KEY_FILE.write_text(secrets.token_urlsafe(50))
        SECRET_KEY_FILE.chmod(0o600)
    return SECRET_KEY_FILE.read_text().strip()


SECRET_KEY = _secret_key()
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# `make run`: the demo users (printed passwords) skip the second factor and the forced password change.
CANLIAN_DEMO_SIGNIN_EXEMPT = True
