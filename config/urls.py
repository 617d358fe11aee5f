from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import include, path


@login_required
def home(request):
    from canlian.accounts import access

    if access.can_read_audit(request.user):
        return redirect("common:audit_list")
    if request.user.role == "institution_staff":
        return redirect("casework:index")
    # the leader's board; the town clerk's own town (its targets and its due work); the district's worklist
    if request.user.role in ("leader", "town_staff"):
        return redirect("workplan:board")
    if request.user.role == "district_staff":
        return redirect("casework:worklist")
    if request.user.role in access.PERSON_READERS:
        return redirect("registry:person_list")
    return redirect("registry:region_list")


urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("canlian.accounts.urls")),
    path("registry/", include("canlian.registry.urls")),
    path("benefits/", include("canlian.benefits.urls")),
    path("verification/", include("canlian.verification.urls")),
    path("services/", include("canlian.casework.urls")),
    path("institutions/", include("canlian.institutions.urls")),
    path("workplan/", include("canlian.workplan.urls")),
    path("", include("canlian.common.urls")),
]

handler403 = "canlian.common.views.error_403"
handler404 = "canlian.common.views.error_404"
handler500 = "canlian.common.views.error_500"
