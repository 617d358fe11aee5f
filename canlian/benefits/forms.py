"""Forms of the benefits pages. They parse and lay out input; every rule lives in the services.

Service errors come back as ``ValidationFailed({key: message})``; ``add_errors`` puts each message next to the
field it is about (``ERROR_FIELD`` maps the service's keys to this module's field names).
"""

from __future__ import annotations

from datetime import date

from django import forms

from canlian.accounts import access
from canlian.registry import identity
from canlian.registry.services import id_index

from .cli import parse_month
from .models import Application, EnrolmentChange, Programme

# Service error keys → form fields (a key with no field of that name goes to the top of the form).
ERROR_FIELD = {"decision": "decision_doc_no", "file": "attachments", "effective_month": "effective_month"}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _text(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", "autocomplete": "off", **attrs})


def _textarea(rows: int = 2, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"class": "form-control", "rows": rows, **attrs})


def _date(**attrs) -> forms.DateInput:
    return forms.DateInput(format="%Y-%m-%d", attrs={"class": "form-control", "type": "date", **attrs})


def _select(**attrs) -> forms.Select:
    return forms.Select(attrs={"class": "form-select", **attrs})


def add_errors(form: forms.Form, errors: dict[str, str]) -> None:
    """Service errors next to their fields; keys without a field go to the top of the form."""
    for key, message in errors.items():
        key = ERROR_FIELD.get(key, key)
        field = key if key in form.fields else None
        if field is not None and field in form.errors:
            continue
        form.add_error(field, message)


def mark_invalid(form: forms.Form) -> None:
    """aria-invalid on inputs with an error, so assistive technology and the CSS both see it."""
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["aria-invalid"] = "true"
            form.fields[name].widget.attrs["aria-describedby"] = f"{form[name].auto_id}_error"


class MonthField(forms.CharField):
    """``YYYY-MM`` (what ``<input type="month">`` sends) → the first day of that month."""

    widget = forms.TextInput(attrs={"class": "form-control", "type": "month", "placeholder": "2023-06"})

    def to_python(self, value):
        text = (super().to_python(value) or "").strip()
        if not text:
            return None
        try:
            return parse_month(text)
        except ValueError:
            raise forms.ValidationError(f"“{text}”不是有效月份，请用 2023-06 的格式") from None

    def prepare_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, date) else value


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        for f in cleaned:
            if f.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(f"附件“{f.name}”超过 10 MB")
        return cleaned


# ---- applications -----------------------------------------------------------------------------------------


class ApplicationForm(forms.Form):
    """A new application. The person comes fixed from the person page, or is found by ID number."""

    id_number = forms.CharField(
        label="申请人身份证号",
        required=False,
        help_text="在本辖区残疾人档案中查找申请人",
        widget=_text(spellcheck="false"),
    )
    programme = forms.ModelChoiceField(
        label="待遇项目",
        queryset=Programme.objects.none(),
        to_field_name="code",
        empty_label="请选择",
        error_messages={"required": "请选择待遇项目", "invalid_choice": "请从列表中选择待遇项目"},
        widget=_select(),
    )
    applied_on = forms.DateField(
        label="申请日期",
        error_messages={"required": "请填写申请日期", "invalid": "日期格式应为 2023-05-06"},
        help_text="补贴从申请当月起计发",
        widget=_date(),
    )
    bank_name = forms.CharField(label="开户银行", required=False, max_length=50, widget=_text())
    bank_account = forms.CharField(
        label="银行账号", required=False, max_length=40, widget=_text(inputmode="numeric", spellcheck="false")
    )
    note = forms.CharField(label="申请说明", required=False, widget=_textarea(3))
    attachments = MultipleFileField(
        label="附件",
        required=False,
        help_text="申请表、证明材料等，可多选；每个不超过 10 MB",
        widget=MultipleFileInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args, user, person=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.person = person
        self.fields["programme"].queryset = Programme.objects.filter(active=True).order_by("id")
        for name in ("programme", "applied_on"):
            self.fields[name].is_marked_required = True
        if person is not None:
            del self.fields["id_number"]
        else:
            self.fields["id_number"].is_marked_required = True

    def clean_id_number(self):
        raw = self.cleaned_data.get("id_number", "")
        if not raw.strip():
            raise forms.ValidationError("请填写申请人身份证号")
        try:
            number = identity.validate_id(raw)
        except identity.IdentityError as exc:
            raise forms.ValidationError(f"身份证号无效：{exc.message}") from None
        person = access.persons_editable(self.user).filter(id_number_index=id_index(number)).first()
        if person is None:
            raise forms.ValidationError("未找到该身份证号对应的残疾人，或不在您的辖区")
        self.person = person
        return number


class TransitionForm(forms.Form):
    """One move along the application transition table. ``expected_status`` is what the page showed."""

    expected_status = forms.ChoiceField(choices=Application.Status.choices, widget=forms.HiddenInput)
    note = forms.CharField(label="办理意见", required=False, widget=_textarea(2))
    objections = forms.CharField(
        label="公示异议",
        required=False,
        help_text="公示期间收到的异议及核实情况；无异议可不填",
        widget=_textarea(2),
    )
    decision_date = forms.DateField(
        label="民政审定日期",
        required=False,
        error_messages={"invalid": "日期格式应为 2023-05-06"},
        widget=_date(),
    )
    decision_doc_no = forms.CharField(
        label="审定文号", required=False, max_length=100, widget=_text(placeholder="如 吴民〔2023〕12号")
    )
    reject_reason = forms.CharField(label="不予通过的理由", required=False, widget=_textarea(2))


class AttachmentForm(forms.Form):
    attachments = MultipleFileField(
        label="上传附件",
        help_text="可多选；每个不超过 10 MB",
        error_messages={"required": "请选择要上传的文件"},
        widget=MultipleFileInput(attrs={"class": "form-control"}),
    )


class ApplicationFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "全部"), *Application.Status.choices])
    programme = forms.CharField(required=False)
    town = forms.IntegerField(required=False)
    q = forms.CharField(required=False, max_length=50)


# ---- enrolments ----------------------------------------------------------------------------------------------

KIND_CHOICES = EnrolmentChange.Kind.choices


class EnrolmentChangeForm(forms.Form):
    kind = forms.ChoiceField(
        label="变更",
        choices=KIND_CHOICES,
        error_messages={"required": "请选择变更类型", "invalid_choice": "无效的变更类型"},
        widget=_select(),
    )
    effective_month = MonthField(
        label="生效月份",
        help_text="暂停、终止：自该月起停发；恢复：自该月起恢复发放",
        error_messages={"required": "请填写生效月份"},
    )
    reason = forms.CharField(label="原因", error_messages={"required": "请填写变更原因"}, widget=_textarea(2))

    def __init__(self, *args, moves, **kwargs):
        """``moves``: the enrolment workflow's moves to offer (``allowed_moves`` for the page; every move
        from the current status when a POST is checked, so the service says why one is refused)."""
        super().__init__(*args, **kwargs)
        names = {m.name for m in moves}
        self.fields["kind"].choices = [(k, label) for k, label in KIND_CHOICES if k in names]
        self.fields["effective_month"].widget = forms.TextInput(
            attrs={"class": "form-control", "type": "month", "placeholder": "2023-06"}
        )
        for field in self.fields.values():
            field.is_marked_required = True


# ---- payroll ---------------------------------------------------------------------------------------------------


class PayrollGenerateForm(forms.Form):
    programme = forms.ModelChoiceField(
        label="待遇项目",
        queryset=Programme.objects.none(),
        to_field_name="code",
        empty_label=None,
        error_messages={"required": "请选择待遇项目", "invalid_choice": "请从列表中选择按月发放的待遇项目"},
        widget=_select(),
    )
    month = MonthField(label="发放月份", error_messages={"required": "请填写发放月份"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["programme"].queryset = Programme.objects.filter(active=True, cash=True).order_by("id")
        self.fields["month"].widget = forms.TextInput(
            attrs={"class": "form-control", "type": "month", "placeholder": "2023-06"}
        )


class PayrollMoveForm(forms.Form):
    to_status = forms.CharField()
    expected_status = forms.CharField()


class BankResultsForm(forms.Form):
    file = forms.FileField(
        label="银行回盘文件",
        help_text="含“流水号”“结果”两列（可选“失败原因”）；支持 .xlsx、.xls、.csv",
        error_messages={"required": "请选择银行回盘文件"},
        widget=forms.ClearableFileInput(
            attrs={"class": "form-control", "accept": ".xlsx,.xls,.xlsb,.ods,.csv"}
        ),
    )


# ---- parameters -----------------------------------------------------------------------------------------------


class ParameterValueForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    valid_from = forms.DateField(
        label="生效日期",
        error_messages={"required": "请填写生效日期", "invalid": "日期格式应为 2023-07-01"},
        widget=_date(),
    )
    value = forms.CharField(
        label="新取值", max_length=50, error_messages={"required": "请填写新取值"}, widget=_text()
    )
    reference = forms.CharField(
        label="调整依据",
        max_length=200,
        error_messages={"required": "请填写调整依据（文件名称和文号）"},
        widget=_text(placeholder="文件名称和文号"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("valid_from", "value", "reference"):
            self.fields[name].is_marked_required = True
