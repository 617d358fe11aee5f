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
