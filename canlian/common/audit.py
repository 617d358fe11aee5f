"""The one way to write an audit row. Call it inside the same transaction as the write it records."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import auditchain
from .audit_display import require_label
from .context import client_ip, refusal_audited
from .models import AuditLog


def _user_fields(user) -> dict[str, Any]:
    if user is None or not getattr(user, "is_authenticated", False):
        return {"user": None, "username": getattr(user, "username", "") or "", "role": ""}
    return {"user": user, "username": user.username, "role": getattr(user, "role", "")}


def audit_record(
    *,
    acting_user,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    changes: dict | None = None,
    result: str = AuditLog.Result.SUCCESS,
    detail: str = "",
    username: str = "",
) -> AuditLog:
    require_label(action)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or _short_repr(obj)
    fields = _user_fields(acting_user)
    if username and not fields["username"]:
        fields["username"] = username
    if result == AuditLog.Result.DENIED:
        refusal_audited.set(True)
    return AuditLog.objects.create(
        **fields,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        object_repr=object_repr[:200],
        changes=changes or {},
        result=result,
        detail=detail,
        ip=client_ip.get(),
    )


def _bulk_base(acting_user, action: str) -> dict[str, Any]:
    """The columns every row of one bulk audit write shares (attnames)."""
    require_label(action)
    fields = _user_fields(acting_user)
    return {
        "user_id": fields["user"].pk if fields["user"] is not None else None,
        "username": fields["username"],
        "role": fields["role"],
        "action": action,
        "result": AuditLog.Result.SUCCESS,
        "ip": client_ip.get(),
    }


def _json_text(changes) -> Any:
    from .bulk import JSONText

    return changes if isinstance(changes, JSONText) else JSONText(json.dumps(changes))


def audit_record_many(*, acting_user, action: str, entries: Iterable[dict]) -> int:
    """Bulk audit rows for set-based writes. Each entry: object_type, object_id, object_repr, changes
    (and optionally detail). Written with ``common.bulk.insert_rows`` (COPY on PostgreSQL): an import of
    100,000 persons writes 100,000 audit rows, and model instances would cost more than the import. The
    rows are chained in order (``auditchain.append_many``)."""
    from django.utils import timezone

    from .bulk import insert_rows

    base = {**_bulk_base(acting_user, action), "at": timezone.now()}
    rows = [
        {
            **base,
            "object_type": e.get("object_type", ""),
            "object_id": str(e.get("object_id", "")),
            "object_repr": str(e.get("object_repr", ""))[:200],
            # serialised once, as the JSON field would (no encoder): the hash parses this text, the insert
            # writes it as it is
            "changes": _json_text(e.get("changes") or {}),
            "detail": e.get("detail", ""),
        }
        for e in entries
    ]

    def write(rows: list[dict], links: list[tuple[int, str, str]]) -> int:
        for row, (seq, prev_hash, row_hash) in zip(rows, links, strict=True):
            row["seq"], row["prev_hash"], row["row_hash"] = seq, prev_hash, row_hash
        return insert_rows(AuditLog, rows, now=base["at"])

    return auditchain.append_many(
        rows, object_id=lambda row: row["object_id"], content=auditchain.fragment_of, write=write
    )


@dataclass(frozen=True, slots=True)
class AuditTail:
    """One row of an ``AuditCopy``, formatted ahead: its COPY columns after the chain's and the object id,
    and the canonical text of its content (what its hash is taken over)."""

    copy: str
    content: str


class AuditCopy:
    """Audit rows of one action for a set-based write, formatted ahead for PostgreSQL's COPY (by a worker
    process, say; see ``common.bulk.CopyRows``) and written by the process that holds the transaction, which
    adds each row's object id and chains the rows. The rows are those ``audit_record_many`` would write."""

    def __init__(self, *, acting_user, action: str, now):
        from .bulk import CopyRows

        self._rows = CopyRows(AuditLog, lead=("object_id", "seq", "prev_hash", "row_hash"), now=now)
        self._base = {**_bulk_base(acting_user, action), "at": now}

    def tail(self, *, object_type: str, object_repr: str, changes, detail: str = "") -> AuditTail:
        row = {
            **self._base,
            "object_type": object_type,
            "object_repr": str(object_repr)[:200],
            "changes": changes or {},
            "detail": detail,
        }
        return AuditTail(self._rows.tail(row), auditchain.fragment_of(row))

    def write(self, rows: list[tuple[object, AuditTail]]) -> int:
        """``rows``: (object id, ``tail``) pairs, chained in this order."""
        from .bulk import copy_text

        def lines(rows, links) -> int:
            return self._rows.write(
                [
                    f"{copy_text(str(object_id))}\t{seq}\t{prev_hash}\t{row_hash}\t{tail.copy}\n"
                    for (object_id, tail), (seq, prev_hash, row_hash) in zip(rows, links, strict=True)
                ]
            )

        return auditchain.append_many(
            rows, object_id=lambda row: str(row[0]), content=lambda row: row[1].content, write=lines
        )


def audit_read(
    *, acting_user, action: str, obj=None, object_type: str = "", object_repr: str = "", changes=None
):
    """A read of personal data (a person page, a search by ID or certificate number, a download): the same
    row as a write, outside any transaction. The values in ``changes`` must already be masked."""
    return audit_record(
        acting_user=acting_user,
        action=action,
        obj=obj,
        object_type=object_type,
        object_repr=object_repr,
        changes=changes,
    )


def _refused_object(match) -> tuple[str, str]:
    """(object_type, object_id) of the record a refused URL names: ``registry:person_detail`` with ``pk``
    → ``registry.person``; empty when the URL's name does not start with a model's name."""
    from django.apps import apps

    object_id = next((str(v) for k, v in match.kwargs.items() if k in ("pk", "id")), "")
    app_label, _, url_name = (match.view_name or "").rpartition(":")
    model_name = url_name.split("_", 1)[0]
    try:
        apps.get_model(app_label, model_name)
    except (LookupError, ValueError):
        return "", object_id
    return f"{app_label}.{model_name}", object_id


def audit_refusal(request, status: int) -> AuditLog | None:
    """A page refused to a signed-in user (403), or a record not found or out of their scope (404 on a URL
    that resolved to a page). Unknown URLs and anonymous requests (sent to sign in) are not recorded."""
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    if match is None or user is None or not user.is_authenticated:
        return None
    object_type, object_id = _refused_object(match)
    return audit_record(
        acting_user=user,
        action="access.denied",
        object_type=object_type,
        object_id=object_id,
        object_repr=request.path[:200],
        result=AuditLog.Result.DENIED,
        detail=f"{request.method} {request.path}："
        + ("无权访问（403）" if status == 403 else "未找到，或不在其管辖范围内（404）"),
    )


def _short_repr(obj) -> str:
    mask = getattr(obj, "audit_repr", None)
    return mask() if callable(mask) else str(obj)
