"""One declared workflow engine: a table of states and moves, and one ``transition`` service.

A ``Workflow`` declares its states (code → Chinese label) and its ``Move``s. Each move says from which
states it may be made, to which state it leads, which roles may make it, an optional scope hook (``check``:
may this user act on this object?), whether it needs a different user from the one who made a named earlier
move (maker ≠ checker: ``checker_of``), which data fields it requires, which model fields it records, and an
optional ``validate`` hook (obj, data → Chinese errors by field), and an
optional ``effect`` run after the state is saved (create an enrolment, schedule a visit …).

``transition(obj, move, acting_user=…, expected_state=…, **data)`` locks the row (``select_for_update``, from
the workflow's scoped queryset, so an out-of-scope row is simply not found), refuses a move not allowed from
the current state, tells the user when the state they saw has changed, and writes a ``WorkflowHistory`` row and
an audit row in the same transaction. A model opts in by having a ``workflow`` attribute (a class attribute or
a property, e.g. a case whose workflow depends on its programme).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from .audit import audit_record
from .exceptions import DomainError, PermissionDenied, ValidationFailed
from .models import WorkflowHistory

Check = Callable[[Any, Any], bool]  # (user, obj) -> may act
Effect = Callable[..., dict | None]  # (obj, *, acting_user, data, history) -> extra audit changes


@dataclass(frozen=True)
class Move:
    name: str
    label: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    checker_of: tuple[str, ...] = ()  # moves whose maker may not make this move (maker ≠ checker)
    requires: tuple[str, ...] = ()  # data fields that must be given and not blank
    records: tuple[str, ...] = ()  # data fields copied onto model fields of the same name
    check: Check | None = None
    validate: Callable[[Any, dict], dict] | None = None  # (obj, data) -> {field: Chinese message}
    effect: Effect | None = None

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "roles", frozenset(self.roles))
        if isinstance(self.checker_of, str):
            object.__setattr__(self, "checker_of", (self.checker_of,))


@dataclass(frozen=True)
class Workflow:
    code: str  # also the audit action prefix: "<code>.<move>"
    name: str
    states: dict[str, str]
    moves: tuple[Move, ...]
    initial: str
    state_field: str = "state"
    field_labels: dict[str, str] = field(default_factory=dict)
    scope: Callable[[Any], models.QuerySet] | None = None  # user -> queryset of objects they may move
    # obj -> the object the audit row is about, when not the moved object itself (an enrolment's moves are
    # shown on its person's page, which lists the person's audit rows)
    audit_object: Callable[[Any], models.Model] | None = None
    _by_name: dict[str, Move] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        from .audit_display import register_actions

        # every move is an audit action "<code>.<move>": its Chinese label is the move's own
        register_actions(
            {f"{self.code}.{m.name}": f"{self.name}：{m.label}" for m in self.moves}, strict=False
        )
        by_name = {}
        for m in self.moves:
            if m.name in by_name:
                raise ValueError(f"workflow {self.code}: move {m.name} declared twice")
            for s in (*m.sources, m.target):
                if s not in self.states:
                    raise ValueError(f"workflow {self.code}: move {m.name} names unknown state {s}")
            for c in m.checker_of:
                if c not in {x.name for x in self.moves}:
                    raise ValueError(f"workflow {self.code}: move {m.name} checks unknown move {c}")
            by_name[m.name] = m
        if self.initial not in self.states:
            raise ValueError(f"workflow {self.code}: unknown initial state {self.initial}")
        object.__setattr__(self, "_by_name", by_name)

    def move(self, name: str) -> Move:
        try:
            return self._by_name[name]
        except KeyError:
            raise DomainError(f"没有“{name}”这项操作") from None

    def state_label(self, state: str) -> str:
        return self.states.get(state, state)

    def moves_from(self, state: str) -> list[Move]:
        return [m for m in self.moves if state in m.sources]


def workflow_of(obj) -> Workflow:
    wf = getattr(obj, "workflow", None)
    if not isinstance(wf, Workflow):
        raise TypeError(f"{type(obj).__name__} declares no workflow")
    return wf


def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _history(obj) -> models.QuerySet:
    ct = ContentType.objects.get_for_model(type(obj))
    return WorkflowHistory.objects.filter(content_type=ct, object_id=str(obj.pk))


def history_of(obj) -> models.QuerySet:
    """The moves made on ``obj``, oldest first (a selector for detail pages)."""
    return _history(obj).select_related("by").order_by("at", "id")


def history_rows(obj) -> list[dict]:
    """``history_of(obj)`` as the rows ``common/_workflow_history.html`` shows (states by their labels)."""
    wf = workflow_of(obj)
    return [
        {
            "at": h.at,
            "move_label": h.move_label,
            "from_label": wf.state_label(h.from_state),
            "to_label": wf.state_label(h.to_state),
            "by": h.by,
            "note": h.note,
        }
        for h in history_of(obj)
    ]


def _maker_conflict(obj, move: Move, user) -> bool:
    if not move.checker_of:
        return False
    last = _history(obj).filter(move__in=move.checker_of).order_by("-at", "-id").first()
    return last is not None and last.by_id == user.pk


def _role_and_scope_ok(wf: Workflow, move: Move, user, obj) -> bool:
    if not (user and user.is_authenticated and user.is_active and user.role in move.roles):
        return False
    return move.check is None or bool(move.check(user, obj))


def allowed_moves(user, obj) -> list[Move]:
    """The moves ``user`` may make on ``obj`` now, for buttons. ``transition`` re-checks everything."""
    wf = workflow_of(obj)
    if wf.scope is not None and not wf.scope(user).filter(pk=obj.pk).exists():
        return []
    state = getattr(obj, wf.state_field)
    return [
        m
        for m in wf.moves_from(state)
        if _role_and_scope_ok(wf, m, user, obj) and not _maker_conflict(obj, m, user)
    ]


def allowed_moves_many(user, objs: Iterable) -> dict[Any, list[Move]]:
    """``allowed_moves`` for a page of objects of one workflow: pk → moves, with one scope query."""
    objs = list(objs)
    if not objs:
        return {}
    wf = workflow_of(objs[0])
    pks = [o.pk for o in objs]
    in_scope = (
        set(pks) if wf.scope is None else set(wf.scope(user).filter(pk__in=pks).values_list("pk", flat=True))
    )
    out = {}
    for obj in objs:
        state = getattr(obj, wf.state_field)
        out[obj.pk] = (
            [
                m
                for m in wf.moves_from(state)
                if _role_and_scope_ok(wf, m, user, obj) and not _maker_conflict(obj, m, user)
            ]
            if obj.pk in in_scope
            else []
        )
    return out


def maker_withheld_moves(user, obj) -> list[Move]:
    """The moves from the current state that ``user``'s role and scope allow but maker ≠ checker withholds
    (they made the move these check): for a page to say why the button is not there."""
    wf = workflow_of(obj)
    if wf.scope is not None and not wf.scope(user).filter(pk=obj.pk).exists():
        return []
    state = getattr(obj, wf.state_field)
    return [
        m
        for m in wf.moves_from(state)
        if _role_and_scope_ok(wf, m, user, obj) and _maker_conflict(obj, m, user)
    ]


def histories_of(objs) -> dict[str, list[WorkflowHistory]]:
    """The moves made on each of ``objs`` (one model), oldest first, by ``str(pk)``: one query for a list."""
    objs = list(objs)
    if not objs:
        return {}
    ct = ContentType.objects.get_for_model(type(objs[0]))
    out: dict[str, list[WorkflowHistory]] = {str(o.pk): [] for o in objs}
    for h in (
        WorkflowHistory.objects.filter(content_type=ct, object_id__in=list(out))
        .select_related("by")
        .order_by("at", "id")
    ):
        out[h.object_id].append(h)
    return out


def moves_for_many(user, objs) -> dict[object, tuple[list[Move], list[Move]]]:
    """For a list page: ``pk → (allowed_moves, maker_withheld_moves)`` of each of ``objs`` (one model), with
    one scope query per workflow and one history query instead of a few queries per object."""
    objs = list(objs)
    histories = histories_of(objs)
    in_scope: dict[str, set] = {}
    out = {}
    for obj in objs:
        wf = workflow_of(obj)
        if wf.code not in in_scope:
            same = [o.pk for o in objs if workflow_of(o).code == wf.code]
            qs = wf.scope(user) if wf.scope is not None else type(obj)._default_manager.all()
            in_scope[wf.code] = set(qs.filter(pk__in=same).values_list("pk", flat=True))
        allowed, withheld = [], []
        if obj.pk in in_scope[wf.code]:
            history = histories[str(obj.pk)]
            for m in wf.moves_from(getattr(obj, wf.state_field)):
                if not _role_and_scope_ok(wf, m, user, obj):
                    continue
                makers = [h for h in history if h.move in m.checker_of]
                (withheld if makers and makers[-1].by_id == user.pk else allowed).append(m)
        out[obj.pk] = (allowed, withheld)
    return out


def _lock(wf: Workflow, obj, user):
    qs = wf.scope(user) if wf.scope is not None else type(obj)._default_manager.all()
    try:
        return qs.select_for_update().get(pk=obj.pk)
    except qs.model.DoesNotExist:
        raise PermissionDenied("未找到该记录，或您无权办理") from None


@transaction.atomic
def transition(
    obj,
    move: str,
    *,
    acting_user,
    expected_state: str,
    note: str = "",
    **data,
):
    """Make ``move`` on ``obj``; returns the locked, updated instance (``obj`` itself is not changed)."""
    wf = workflow_of(obj)
    m = wf.move(move)
    locked = _lock(wf, obj, acting_user)
    current = getattr(locked, wf.state_field)
    if current != expected_state:
        raise DomainError(f"当前状态已变为“{wf.state_label(current)}”，请刷新后重试")
    if current not in m.sources:
        raise DomainError(f"当前状态为“{wf.state_label(current)}”，不能办理“{m.label}”")
    if not _role_and_scope_ok(wf, m, acting_user, locked):
        raise PermissionDenied(f"您无权办理“{m.label}”")
    if _maker_conflict(locked, m, acting_user):
        raise PermissionDenied(f"经办与审核须由不同人员办理：您已办理上一环节，不能再办理“{m.label}”")
    missing = {f: f"请填写{wf.field_labels.get(f, f)}" for f in m.requires if _blank(data.get(f))}
    if missing:
        raise ValidationFailed(missing)
    if m.validate is not None:
        errors = m.validate(locked, data)
        if errors:
            raise ValidationFailed(errors)
    changes: dict[str, list] = {wf.state_field: [current, m.target]}
    fields = [wf.state_field]
    for name in m.records:
        if name in data:
            value = data[name].strip() if isinstance(data[name], str) else data[name]
            old = getattr(locked, name)
            setattr(locked, name, value)
            fields.append(name)
            changes[name] = [_jsonable(old), _jsonable(value)]
    setattr(locked, wf.state_field, m.target)
    concrete = {f.name for f in locked._meta.concrete_fields}
    if "version" in concrete:
        locked.version += 1
        fields.append("version")
    if "updated_at" in concrete:
        fields.append("updated_at")
    locked.save(update_fields=fields)
    history = WorkflowHistory.objects.create(
        content_type=ContentType.objects.get_for_model(type(locked)),
        object_id=str(locked.pk),
        workflow=wf.code,
        move=m.name,
        move_label=m.label,
        from_state=current,
        to_state=m.target,
        by=acting_user,
        note=note.strip(),
        data=_jsonable(data),
    )
    if m.effect is not None:
        extra = m.effect(locked, acting_user=acting_user, data=data, history=history)
        changes.update(extra or {})
    audit_record(
        acting_user=acting_user,
        action=f"{wf.code}.{m.name}",
        obj=wf.audit_object(locked) if wf.audit_object is not None else locked,
        changes=changes,
        detail=f"{m.label}：{wf.state_label(current)} → {wf.state_label(m.target)}"
        + (f"。{note.strip()}" if note.strip() else ""),
    )
    return locked


def state_choices(wf: Workflow) -> list[tuple[str, str]]:
    return list(wf.states.items())


def roles_of(moves: Iterable[Move]) -> set[str]:
    return {r for m in moves for r in m.roles}
