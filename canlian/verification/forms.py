"""Forms of the data comparison pages: they parse input; every rule lives in the services."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from canlian.benefits.forms import MonthField, add_errors, mark_invalid  # noqa: F401  (re-exported)

from .importers import REQUIRED, aliases_for, field_label
from .models import Finding, ListKind

MAX_UPLOAD_MB = 50


def _text(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", "autocomplete": "off", **attrs})


def _select(**attrs) -> forms.Select:
    return forms.Select(attrs={"class": "form-select", **attrs})


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="名单类型", choices=ListKind.choices, widget=_select())
    source_name = forms.CharField(
        label="来源单位",
        max_length=100,
        widget=_text(list="known-sources", placeholder="如：区民政局社会救助科"),
        help_text="同一来源再次上传时，沿用上次指定的列对应关系。",
        error_messages={"required": "请填写来源单位"},
    )
    received_on = forms.DateField(
        label="收到日期",
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"class": "form-control", "type": "date"}),
        error_messages={"required": "请填写收到日期", "invalid": "日期格式应为 2023-08-02"},
    )
    complete = forms.BooleanField(
        label="全量低保名单（不在名单中的低保对象视为已退出低保）",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    file = forms.FileField(
        label="名单文件",
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".xlsx,.xls,.ods,.csv"}),
        help_text="支持 .xlsx、.xls、.ods、.csv（UTF-8 或 GBK 编码）。",
        error_messages={"required": "请选择要上传的文件"},
    )

    def clean_received_on(self):
        day = self.cleaned_data["received_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("收到日期不能晚于今天")
        return day

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(f"文件超过 {MAX_UPLOAD_MB} MB")
        return f


class MappingForm(forms.Form):
    """One select per field of the list kind, offering the columns found in the file."""

    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, kind: str, headers: list[str], found: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        choices = [("", "（不导入）")] + [(h, h) for h in headers]
        for key in aliases_for(kind):
            required = key in REQUIRED[kind]
            self.fields[f"map_{key}"] = forms.ChoiceField(
                label=field_label(kind, key),
                choices=choices,
                required=required,
                initial=(found or {}).get(key, ""),
                widget=_select(),
                error_messages={"required": f"请指定“{field_label(kind, key)}”对应的列"},
            )

    def mapping(self) -> dict[str, str]:
        return {
            name[len("map_") :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith("map_") and value
        }


class FindingConfirmForm(forms.Form):
    action = forms.ChoiceField(
        label="处理方式", choices=Finding.Action.choices, initial=Finding.Action.STOP, widget=_select()
    )
    effective_month = MonthField(label="停发起始月份", required=False, help_text="留空则按疑点测算的月份。")
    note = forms.CharField(
        label="处理意见",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
    )


class FindingDismissForm(forms.Form):
    reason = forms.CharField(
        label="排除理由",
        max_length=500,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
        error_messages={"required": "请填写排除理由"},
    )


class BulkConfirmForm(forms.Form):
    action = forms.ChoiceField(
        label="处理方式", choices=Finding.Action.choices, initial=Finding.Action.STOP, widget=_select()
    )
    note = forms.CharField(label="处理意见", required=False, max_length=500, widget=_text())


class RunForm(forms.Form):
    month = MonthField(
        label="比对月份", required=False, help_text="按该月判断年龄、证件有效期和待遇金额；留空为本月。"
    )
    all_lists = forms.BooleanField(
        label="重新比对全部名单（默认只比对新名单）",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
