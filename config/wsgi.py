import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()

# Refuse to serve with keys that do not match the database (canlian.common.crypto.keys_verify).
from canlian.common.crypto import keys_verify  # noqa: E402

keys_verify()
