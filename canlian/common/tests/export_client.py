"""For tests of pages with an export button: POST the button, follow to the job page (the test settings run
tasks at once), download the file. Returns (job page response, download response)."""

from __future__ import annotations

from django.urls import reverse

from canlian.common.models import Job


def export_through_job(client, url: str, data: dict | None = None):
    start = client.post(url, data or {})
    assert start.status_code == 302, start.content.decode()[:500]
    job = Job.objects.filter(kind="export").order_by("-created_at").first()
    assert start.url == reverse("common:export_detail", args=[job.pk])
    page = client.get(start.url)
    assert page.status_code == 200
    download = client.get(reverse("common:export_download", args=[job.pk]))
    return page, download


def content(response) -> bytes:
    return b"".join(response.streaming_content)
