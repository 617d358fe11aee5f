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
