import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("审计记录只能追加，不能修改")

    def delete(self):
        raise PermissionError("审计记录只能追加，不能删除")


class AuditLog(models.Model):
    """Append-only record of every write, export, reveal and login.

    Rows are only ever inserted (see ``canlian.common.audit``); on PostgreSQL and SQLite a trigger makes
    the database itself refuse UPDATE and DELETE on this table, and on PostgreSQL the application's role may
    only INSERT and SELECT it (``canlian db roles``). The rows form a hash chain (``common.auditchain``):
    ``seq`` numbers them 1, 2, 3 … in the order they were appended, each row stores the previous row's hash
    and the SHA-256 of its own content, so ``canlian audit verify`` finds an edited, deleted or forged row.
    """

    class Result(models.TextChoices):
        SUCCESS = "success", "成功"
        FAILURE = "failure", "失败"
        DENIED = "denied", "拒绝"

    # set by the writer before the row is hashed (not auto_now_add, which would change it after)
    at = models.DateTimeField("时间", default=timezone.now, editable=False, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="用户",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the audit page filters by username (kept even after the user is gone)
        related_name="+",
    )
    username = models.CharField("用户名", max_length=150, blank=True)
    role = models.CharField("角色", max_length=32, blank=True)
    # Indexes in Meta: db_index=True would add a second, "_like" index on PostgreSQL, never used.
    action = models.CharField("操作", max_length=64)
    # no index of its own: the (object_type, object_id, at) index starts with it
    object_type = models.CharField("对象类型", max_length=64, blank=True)
    object_id = models.CharField("对象编号", max_length=64, blank=True)
    object_repr = models.CharField("对象", max_length=200, blank=True)
    changes = models.JSONField("变更", default=dict, blank=True)
    result = models.CharField("结果", max_length=16, choices=Result.choices, default=Result.SUCCESS)
    ip = models.GenericIPAddressField("客户端IP", null=True, blank=True)
    detail = models.TextField("说明", blank=True)
    seq = models.BigIntegerField("链序号", unique=True, editable=False)
    prev_hash = models.CharField("前一行哈希", max_length=64, editable=False)
    row_hash = models.CharField("本行哈希", max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = "审计记录"
        verbose_name_plural = "审计记录"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"]),
            models.Index(fields=["action"], name="audit_action"),
            models.Index(fields=["object_id"], name="audit_object_id"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        """Append the row to the chain: every path that inserts a row (``audit_record``, a test, the shell)
        is chained, or verification would report it as forged."""
        if not self._state.adding:
            raise PermissionError("审计记录只能追加，不能修改")
        from .auditchain import append_one

        append_one(self, lambda: super(AuditLog, self).save(*args, **kwargs))

    def delete(self, *args, **kwargs):
        raise PermissionError("审计记录只能追加，不能删除")


class Job(models.Model):
    """Progress record of a long piece of work (import, export, payroll, comparison).

    The page polls it; the CLI draws it as a progress bar.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "进行中"
        WAITING = "waiting", "待确认"
        SUCCEEDED = "succeeded", "已完成"
        FAILED = "failed", "失败"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField("类型", max_length=64)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField("总数", default=0)
    done = models.PositiveIntegerField("已处理", default=0)
    message = models.CharField("进度说明", max_length=200, blank=True)
    params = models.JSONField("参数", default=dict, blank=True)
    result = models.JSONField("结果", default=dict, blank=True)
    error = models.TextField("错误", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="发起人", on_delete=models.PROTECT, related_name="jobs"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "后台任务"
        verbose_name_plural = "后台任务"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} {self.get_status_display()} {self.done}/{self.total}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.done * 100 / self.total))


class KeyCheck(models.Model):
    """One row: a known value encrypted and blind-indexed with the keys the data was written with.

    Every command and the web application compare it with the keys they were given and refuse to start on a
    mismatch (``crypto.keys_verify``): wrong keys would make every reveal and export fail and let an import
    register the same ID numbers a second time under a different blind index."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    ciphertext = models.TextField("校验密文")
    index_value = models.CharField("校验索引", max_length=40)
    created_at = models.DateTimeField("建立时间", auto_now_add=True)

    class Meta:
        verbose_name = "密钥校验值"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="key_check_single_row")]

    def __str__(self):
        return f"密钥校验值（{self.created_at:%Y-%m-%d}）"


class WorkflowHistory(models.Model):
    """One row per move made through ``common.workflow.transition``: any model, any workflow.

    Append-only like the audit log; the maker ≠ checker rule reads it to find who made an earlier move."""

    content_type = models.ForeignKey(
        "contenttypes.ContentType", verbose_name="对象类型", on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField("对象编号", max_length=64)
    workflow = models.CharField("流程", max_length=64)
    move = models.CharField("操作", max_length=64)
    move_label = models.CharField("操作名称", max_length=64, blank=True)
    from_state = models.CharField("原状态", max_length=32)
    to_state = models.CharField("新状态", max_length=32)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="办理人", on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    note = models.TextField("说明", blank=True)
    data = models.JSONField("办理内容", default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = "流程记录"
        verbose_name_plural = "流程记录"
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "at"], name="wfhist_object_at"),
            # 我的待办: which objects entered a review state in the last days (the reviews not yet overdue)
            models.Index(fields=["content_type", "to_state", "at"], name="wfhist_type_state_at"),
        ]

    def __str__(self):
        return f"{self.workflow} {self.object_id} {self.from_state}→{self.to_state}"
