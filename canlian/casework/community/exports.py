"""The export builder of the community lists: ``export_write(user, kind, filters, out, progress)`` writes the
rows the user may see under the filters to an xlsx and audits it (a counselling export is also a content
read). A plain function of (user, filters, progress), so the background-export machinery can run it."""

from __future__ import annotations

from canlian.common.audit import audit_read
from canlian.common.spreadsheet import XlsxBook

from . import selectors
from . import services as sv
from .kinds import Kind


def export_write(user, kind: Kind, f: selectors.Filters, out, progress=None) -> int:
    """Write ``kind``'s rows the user may see under ``f`` to ``out`` (xlsx); returns the row count."""
    n = 0
    ids = []
    with XlsxBook(out, constant_memory=True) as book:
        sheet = book.add_sheet(kind.label, [c[0] for c in kind.columns])
        for obj in selectors.export_rows(user, kind, f):
            sheet.append([fn(obj) for _, fn in kind.columns])
            ids.append(obj.pk)
            n += 1
            if progress is not None and n % 2000 == 0:
                progress(n)
    if kind.sensitive:
        sv.content_read(acting_user=user, kind=kind, ids=ids, how="export")
    audit_read(
        acting_user=user,
        action=f"community.{kind.code}.export",
        object_type=kind.model._meta.label_lower,
        object_repr=f"导出{kind.label}",
        changes={
            "rows": [None, n],
            "filters": [None, {k: v for k, v in f.__dict__.items() if v and k != "page"}],
        },
    )
    return n
