from .context import client_ip, refusal_audited


class RequestContextMiddleware:
    """Sets the request context of audit rows, and audits every refused access to a page (a 403, or a 404 on
    a URL that names a record, for a signed-in user) that the code refusing it did not audit already."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = client_ip.set(request.META.get("REMOTE_ADDR"))
        refused = refusal_audited.set(False)
        try:
            response = self.get_response(request)
            if response.status_code in (403, 404) and not refusal_audited.get():
                from .audit import audit_refusal

                audit_refusal(request, response.status_code)
            return response
        finally:
            refusal_audited.reset(refused)
            client_ip.reset(token)


class NoStoreMiddleware:
    """Pages for a signed-in user carry personal data: no browser or proxy may keep a copy
    (``Cache-Control: no-store``), so the back button after sign-out or a shared office PC shows nothing.
    Static files are served earlier by whitenoise and stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "no-store" not in response.get("Cache-Control", ""):
            response["Cache-Control"] = "no-store, private"
            response["Pragma"] = "no-cache"
        return response


class ContentSecurityPolicyMiddleware:
    """Sends ``settings.CANLIAN_CONTENT_SECURITY_POLICY`` on every response: scripts and styles come only from
    our own static files (no inline ``<script>``, ``<style>``, ``style="…"`` nor ``on…=""`` handler), so an
    injected fragment of HTML cannot run. Django 5.2 has no CSP support of its own (it comes in 6.0).

    Placed first, so static files served by whitenoise carry it too. Django's own technical error pages in
    ``DEBUG`` are styled inline; they are left without the header so a developer can read them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        response = self.get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if settings.DEBUG and response.status_code >= 400 and html:
            return response
        policy = settings.CANLIAN_CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class SessionRefreshMiddleware:
    """The idle timeout (``SESSION_COOKIE_AGE`` after the last request) without a database write on every
    request: the session is saved when something in it changed, and otherwise at most once every
    ``CANLIAN_SESSION_REFRESH_SECONDS`` (60) by marking it changed. ``SESSION_SAVE_EVERY_REQUEST`` wrote it
    (UPDATE + COMMIT, a WAL flush) on every page; now a session ends between 29 and 30 minutes after the last
    request instead of exactly 30, never later.

    Placed right after ``SessionMiddleware``, so it runs before that one saves. A request without a session
    (anonymous, signed out) or whose view dropped it (the worklist badge: background fetches are not activity)
    is left alone."""

    KEY = "_refreshed"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        from django.conf import settings

        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or response.status_code >= 500 or session.is_empty():
            return response
        now = int(time.time())
        every = getattr(settings, "CANLIAN_SESSION_REFRESH_SECONDS", 60)
        if session.modified or now - session.get(self.KEY, 0) >= every:
            session[self.KEY] = now
        return response
