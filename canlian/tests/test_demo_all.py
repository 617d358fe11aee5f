"""The whole demo: every page has something true to show."""

from django.db.models import Count

from canlian.benefits.models import Application, ParameterValue, Payroll, PayrollLine
from canlian.demo import demo_all
from canlian.verification.models import Finding


def _spy(monkeypatch, module, name: str) -> list:
    """Record each call of ``module.name`` (the long writes' slicing hooks, ``common.bulk``)."""
    calls = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_demo_covers_every_state(db, towns, capsys, monkeypatch):
    from canlian.benefits import demo as benefits_demo
    from canlian.casework import demo as casework_demo
    from canlian.registry import demo as registry_demo
    from canlian.verification import engine

    hooks = {
        "registry": _spy(monkeypatch, registry_demo, "write_slice"),
        "benefits": _spy(monkeypatch, benefits_demo, "commit_slices"),
        "casework": _spy(monkeypatch, casework_demo, "write_slice"),
        "verification": _spy(monkeypatch, engine, "commit_slices"),
    }
    assert demo_all(persons=1500, seed=7) == 0
    # every long write of the demo goes through the slicing hooks (one short transaction per slice on
    # SQLite, one transaction on PostgreSQL)
    assert {app: bool(calls) for app, calls in hooks.items()} == dict.fromkeys(hooks, True)
    assert len(hooks["registry"]) == 2  # the communities, one batch of 1,500 persons
    assert len(hooks["casework"]) >= 40  # one per placement
    states = set(Application.objects.values_list("status", flat=True))
    assert states >= {
        "draft",
        "submitted",
        "town_reviewed",
        "posted",
        "district_reviewed",
        "approved",
        "rejected",
        "enrolled",
    }
    by_status = dict(Payroll.objects.values_list("status").annotate(n=Count("id")))
    assert by_status == {"closed": 20, "exported": 2, "draft": 2}
    # one urban-rural 低保 standard and one care allowance amount (Suzhou has a single rate for each)
    assert ParameterValue.objects.filter(reference__startswith="演示").count() == 2
    kinds = set(PayrollLine.objects.values_list("kind", flat=True))
    assert kinds == {"regular", "arrears", "reissue"}
    assert PayrollLine.objects.filter(status="failed").exists()
    assert Finding.objects.values("kind").distinct().count() >= 8
    out = capsys.readouterr().out
    assert "demo_district2" in out
    # a second run adds nothing
    before = (Application.objects.count(), Payroll.objects.count(), Finding.objects.count())
    assert demo_all(persons=1500, seed=7) == 0
    assert (Application.objects.count(), Payroll.objects.count(), Finding.objects.count()) == before


def test_demo_refused_in_production(db, settings, capsys):
    settings.CANLIAN_DEMO_ALLOWED = False
    assert demo_all(persons=10, seed=1) == 2
    assert "生产环境不允许" in capsys.readouterr().out
