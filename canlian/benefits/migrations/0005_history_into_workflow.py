"""Move the benefits history onto the common workflow history (``common.WorkflowHistory``).

Applications: every ``ApplicationTransition`` row becomes the ``WorkflowHistory`` row of the move it was
(the old table had one move per (from, to) pair, so the mapping is exact), keeping its time, user and note;
one INSERT … SELECT, so the times are kept as they were. Rows already copied are not copied again (the
migration can be reversed and applied again). 0006 then drops the old table.

Payroll batches: the moves made before had no history of their own, only audit rows ("payroll.transition",
the status change of "payroll.export" and "payroll.results"). They are copied from the audit log for the
batches that exist, so that maker ≠ checker (the reviewer may not approve) holds for a batch reviewed before
this release and approved after it, and the history of old batches is complete.

Enrolments keep ``EnrolmentChange`` (the payroll reads it); their moves are in the history from now on.
"""

from django.db import migrations

APPLICATION_MOVES = [
    # (from, to, move, label): the application workflow of benefits/workflows.py
    ("draft", "submitted", "submit", "提交"),
    ("draft", "withdrawn", "withdraw", "撤回"),
    ("submitted", "withdrawn", "withdraw", "撤回"),
    ("submitted", "town_reviewed", "town_review", "镇(街道)初审通过"),
    ("submitted", "rejected", "town_reject", "初审不通过"),
    ("town_reviewed", "posted", "post", "开始公示"),
    ("posted", "district_reviewed", "district_review", "区残联审核通过"),
    ("posted", "rejected", "district_reject", "区残联审核不通过"),
    ("district_reviewed", "approved", "approve", "民政审定通过"),
    ("district_reviewed", "rejected", "decide_reject", "民政审定不通过"),
    ("approved", "enrolled", "enrol", "纳入发放"),
]
PAYROLL_MOVES = {
    ("draft", "reviewed"): ("review", "复核通过"),
    ("reviewed", "draft"): ("return", "退回"),
    ("reviewed", "approved"): ("approve", "审批通过"),
    ("approved", "exported"): ("send_to_bank", "出盘"),
    ("exported", "closed"): ("close", "回盘办结"),
}


def _case(column_from: str, column_to: str, index: int) -> tuple[str, list]:
    whens, params = [], []
    for row in APPLICATION_MOVES:
        whens.append(f"WHEN {column_from} = %s AND {column_to} = %s THEN %s")
        params += [row[0], row[1], row[index]]
    return "CASE " + " ".join(whens) + " ELSE " + column_to + " END", params


def _content_type(apps, model: str):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ct, _ = ContentType.objects.get_or_create(app_label="benefits", model=model)
    return ct


def forward(apps, schema_editor):
    ApplicationTransition = apps.get_model("benefits", "ApplicationTransition")
    WorkflowHistory = apps.get_model("common", "WorkflowHistory")
    qn = schema_editor.connection.ops.quote_name
    history = qn(WorkflowHistory._meta.db_table)
    old = qn(ApplicationTransition._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        if ApplicationTransition.objects.exists():
            ct = _content_type(apps, "application")
            move_sql, move_params = _case("t.from_status", "t.to_status", 2)
            label_sql, label_params = _case("t.from_status", "t.to_status", 3)
            cursor.execute(
                f"INSERT INTO {history} (content_type_id, object_id, workflow, move, move_label, from_state, "
                f"to_state, by_id, at, note, data) "
                f"SELECT %s, CAST(t.application_id AS VARCHAR(64)), 'application', {move_sql}, {label_sql}, "
                f"t.from_status, t.to_status, t.by_id, t.at, t.note, '{{}}' FROM {old} t "
                f"WHERE NOT EXISTS (SELECT 1 FROM {history} h WHERE h.content_type_id = %s "
                f"AND h.object_id = CAST(t.application_id AS VARCHAR(64)) AND h.at = t.at "
                f"AND h.to_state = t.to_status AND h.by_id = t.by_id) ORDER BY t.at, t.id",
                [ct.pk, *move_params, *label_params, ct.pk],
            )
        _payroll_history(apps, cursor, history)


def _payroll_history(apps, cursor, history: str) -> None:
    Payroll = apps.get_model("benefits", "Payroll")
    AuditLog = apps.get_model("common", "AuditLog")
    User = apps.get_model("accounts", "User")
    payrolls = {str(pk) for pk in Payroll.objects.values_list("pk", flat=True)}
    if not payrolls:
        return
    ct = _content_type(apps, "payroll")
    users = set(User.objects.values_list("pk", flat=True))
    done = set(
        apps.get_model("common", "WorkflowHistory")
        .objects.filter(content_type=ct)
        .values_list("object_id", "at", "move")
    )
    rows = []
    for a in (
        AuditLog.objects.filter(
            object_type="benefits.payroll",
            action__in=["payroll.transition", "payroll.export", "payroll.results"],
            result="success",
        )
        .order_by("at", "id")
        .iterator()
    ):
        status = (a.changes or {}).get("status")
        if a.object_id not in payrolls or a.user_id not in users or not isinstance(status, list):
            continue
        if len(status) != 2 or tuple(status) not in PAYROLL_MOVES:
            continue
        move, label = PAYROLL_MOVES[tuple(status)]
        if (a.object_id, a.at, move) in done:
            continue
        rows.append([ct.pk, a.object_id, move, label, status[0], status[1], a.user_id, a.at])
    cursor.executemany(
        f"INSERT INTO {history} (content_type_id, object_id, workflow, move, move_label, from_state, "
        f"to_state, by_id, at, note, data) VALUES (%s, %s, 'payroll', %s, %s, %s, %s, %s, %s, '', '{{}}')",
        rows,
    )


def backward(apps, schema_editor):
    """Copy the application moves back into ``ApplicationTransition`` (recreated empty by reversing 0006);
    the history rows stay (append-only), and ``forward`` does not copy them twice."""
    ApplicationTransition = apps.get_model("benefits", "ApplicationTransition")
    WorkflowHistory = apps.get_model("common", "WorkflowHistory")
    qn = schema_editor.connection.ops.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(ApplicationTransition._meta.db_table)} (application_id, from_status, to_status, "
            f"by_id, at, note) SELECT CAST(h.object_id AS INTEGER), h.from_state, h.to_state, h.by_id, h.at, "
            f"h.note FROM {qn(WorkflowHistory._meta.db_table)} h WHERE h.workflow = 'application' "
            f"ORDER BY h.at, h.id"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("benefits", "0004_application_approval_posting"),
        ("common", "0006_workflow_history"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
