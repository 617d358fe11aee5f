"""Import and export pages (placeholder until implemented)."""

from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404


person_export = import_start = import_template = import_detail = import_commit = import_report = _todo
