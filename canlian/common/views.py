from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from canlian.accounts import access


def error_403(request, exception=None):
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    return render(request, "errors/500.html", status=500)


@login_required
def audit_list(request):
    if not access.can_read_audit(request.user):
        raise Http404
    rows = access.audit_logs_visible(request.user)[:100]
    return render(request, "common/audit_list.html", {"rows": rows})


@login_required
def job_detail(request, pk):
    job = get_object_or_404(access.jobs_visible(request.user), pk=pk)
    return render(request, "common/job_detail.html", {"job": job})


audit_export = audit_list
