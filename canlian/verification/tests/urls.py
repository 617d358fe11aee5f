"""The project's URLs plus the verification pages, for the view tests (until the lead wires them into
``config/urls.py``; then nothing is added twice)."""

from django.urls import include, path

from config import urls as root

handler403 = root.handler403
handler404 = root.handler404
handler500 = root.handler500

urlpatterns = list(root.urlpatterns)
if not any(getattr(p, "namespace", None) == "verification" for p in urlpatterns):
    urlpatterns.insert(0, path("verification/", include("canlian.verification.urls")))
