from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from . import selectors


@login_required
def person_list(request):
    page = selectors.person_page(
        request.user, selectors.PersonFilters(q=request.GET.get("q", "")), today=timezone.localdate()
    )
    return render(request, "registry/person_list.html", {"page": page})


@login_required
def person_detail(request, pk):
    person = selectors.person_detail(request.user, pk)
    return render(request, "registry/person_detail.html", {"person": person})


@login_required
def region_list(request):
    return render(request, "registry/region_list.html", {})


person_create = person_edit = person_reveal = person_status = region_create = region_list
