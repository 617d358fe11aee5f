"""Forms of the registry pages. They parse and lay out input; the field rules live in ``validation``.

``PersonForm.clean()`` hands the raw values to ``validate_person_record`` (the same rules as the importer
and the CLI) and puts each Chinese message next to its field. Town and community choices come from
``accounts.access``, so a town clerk is only ever offered their own town.
"""

from __future__ import annotations

from datetime import date

from django import forms

from canlian.accounts import access
from canlian.common.masking import mask_id_number, mask_phone

from .models import CircumstanceKind, EconomicStatus, EmploymentStatus, HouseholdType, Person, Region
from .validation import PersonRecord, RegionLookup, validate_person_record

# Errors from validation about fields this form has no input for are shown next to the closest input.
_ERROR_FIELD = {"category": "certificate_number", "grade": "certificate_number", "parent": "town"}


def _text_input(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", **attrs})


def _select(**attrs) -> forms.Select:
    return forms.Select(attrs={"class": "form-select", **attrs})


def _date_input(**attrs) -> forms.DateInput:
    return forms.DateInput(format="%Y-%m-%d", attrs={"class": "form-control", "type": "date", **attrs})


def writable_towns(user) -> list[Region]:
    """Towns the user may register or move a person into (all of them for district staff)."""
    return [t for t in access.towns_visible(user).order_by("code") if access.can_create_person(user, t)]


def add_errors(form: forms.Form, errors: dict[str, str]) -> None:
    """Put service or validation errors next to their fields; unknown fields go to the top of the form."""
    for key, message in errors.items():
        key = _ERROR_FIELD.get(key, key)
        field = key if key in form.fields else None
        if field is not None and field in form.errors:
            continue  # the field already says what is wrong with it
        form.add_error(field, message)


class PersonForm(forms.Form):
    """Create (``person=None``) or edit a person.

    On edit the full ID and certificate numbers and phones are never sent to the browser: the ID cannot be
    changed, and an empty certificate or phone input keeps the stored value."""

    required_fields = ("name", "id_number", "certificate_number", "issue_date", "town", "household_type")

    name = forms.CharField(label="姓名", required=False, widget=_text_input(autocomplete="off"))
    id_number = forms.CharField(
        label="身份证号",
        required=False,
        help_text="18位；15位旧号会自动升位，全角字符与小写 x 会自动纠正",
        widget=_text_input(autocomplete="off", inputmode="text", spellcheck="false"),
    )
    certificate_number = forms.CharField(
        label="残疾人证号",
        required=False,
        help_text="身份证号 + 残疾类别(1-7) + 等级(1-4)，补发证末尾带 B1、B2…",
        widget=_text_input(autocomplete="off", spellcheck="false"),
    )
    issue_date = forms.CharField(label="发证日期", required=False, widget=_date_input())
    town = forms.ChoiceField(
        label="镇(街道)",
        required=False,
        error_messages={"invalid_choice": "请从列表中选择镇(街道)"},
        widget=_select(),
    )
    community = forms.ChoiceField(
        label="村(社区)",
        required=False,
        error_messages={"invalid_choice": "请从列表中选择村(社区)"},
        widget=_select(),
    )
    household_type = forms.ChoiceField(
        label="户口性质",
        required=False,
        choices=[("", "请选择"), *HouseholdType.choices],
        error_messages={"invalid_choice": "请从列表中选择户口性质"},
        widget=_select(),
    )
    economic_status = forms.ChoiceField(
        label="家庭经济状况",
        required=False,
        # "无" first: a form left untouched must not put anyone on 低保.
        choices=sorted(EconomicStatus.choices, key=lambda c: c[0] != EconomicStatus.NONE),
        error_messages={"invalid_choice": "请从列表中选择家庭经济状况"},
        widget=_select(),
    )
    phone = forms.CharField(
        label="联系电话", required=False, widget=_text_input(autocomplete="off", inputmode="tel")
    )
    address = forms.CharField(label="住址", required=False, widget=_text_input(autocomplete="off"))
    employment_status = forms.ChoiceField(
        label="就业状况",
        required=False,
        choices=EmploymentStatus.choices,
        error_messages={"invalid_choice": "请从列表中选择就业状况"},
        widget=_select(),
    )
    guardian_name = forms.CharField(
        label="监护人姓名", required=False, widget=_text_input(autocomplete="off")
    )
    guardian_relation = forms.CharField(label="与监护人关系", required=False, widget=_text_input())
    guardian_phone = forms.CharField(
        label="监护人电话", required=False, widget=_text_input(autocomplete="off", inputmode="tel")
    )

    def __init__(
        self, *args, user, today: date, person: Person | None = None, economic_status: str = "", **kw
    ):
        self.user, self.today, self.person = user, today, person
        self.record: PersonRecord | None = None
        towns = writable_towns(user)
        if person is not None and person.town not in towns:
            towns = [person.town, *towns]  # never happens for a permitted editor; keeps the form honest
        town_ids = [t.pk for t in towns]
        communities = list(
            access.communities_visible(user).filter(parent_id__in=town_ids).order_by("parent__code", "code")
        )
        self._towns = {str(t.pk): t for t in towns}
        self._communities = {str(c.pk): c for c in communities}
        if person is not None:
            kw.setdefault("initial", self._initial_from(person, economic_status))
        else:
            initial = {"economic_status": EconomicStatus.NONE}
            if len(towns) == 1:
                initial["town"] = str(towns[0].pk)
            kw.setdefault("initial", initial)
        super().__init__(*args, **kw)

        self.fields["town"].choices = [("", "请选择"), *((str(t.pk), t.name) for t in towns)]
        by_town: dict[int, list] = {}
        for c in communities:
            by_town.setdefault(c.parent_id, []).append((str(c.pk), c.name))
        self.fields["community"].choices = [
            ("", "（不填）"),
            *((t.name, by_town[t.pk]) for t in towns if t.pk in by_town),
        ]
        if person is not None:
            del self.fields["id_number"]
            cert = person.current_certificate
            cert_field = self.fields["certificate_number"]
            cert_field.label = "新残疾人证号"
            cert_field.help_text = "不换证请留空。换发、补发或等级变更时填写新证号：" + cert_field.help_text
            if cert is not None:
                cert_field.widget.attrs["placeholder"] = f"当前：{mask_id_number(cert.number)}"
            for key in ("phone", "guardian_phone"):
                current = getattr(person, key)
                self.fields[key].help_text = "留空表示不修改"
                if current:
                    self.fields[key].widget.attrs["placeholder"] = f"当前：{mask_phone(current)}"
        for name, field in self.fields.items():
            if name in self.required_fields and not (person is not None and name == "certificate_number"):
                field.widget.attrs["aria-required"] = "true"
                field.is_marked_required = True
        self.fields["name"].widget.attrs["autofocus"] = True

    @staticmethod
    def _initial_from(person: Person, economic_status: str) -> dict:
        cert = person.current_certificate
        return {
            "name": person.name,
            "issue_date": cert.issue_date if cert else None,
            "town": str(person.town_id),
            "community": str(person.community_id or ""),
            "household_type": person.household_type,
            "economic_status": economic_status or EconomicStatus.NONE,
            "address": person.address,
            "employment_status": person.employment_status,
            "guardian_name": person.guardian_name,
            "guardian_relation": person.guardian_relation,
        }

    def _lookup(self) -> RegionLookup:
        return RegionLookup(
            towns={t.code: t.pk for t in self._towns.values()},
            communities={(c.parent_id, c.name): c.pk for c in self._communities.values()},
            town_names={t.pk: t.name for t in self._towns.values()},
        )

    def clean(self):
        data = super().clean()
        raw: dict[str, object] = {
            key: data.get(key, "")
            for key in (
                "name",
                "id_number",
                "certificate_number",
                "issue_date",
                "household_type",
                "economic_status",
                "phone",
                "address",
                "employment_status",
                "guardian_name",
                "guardian_relation",
                "guardian_phone",
            )
        }
        town = self._towns.get(data.get("town") or "")
        raw["town"] = town.code if town else ""
        community = self._communities.get(data.get("community") or "")
        raw["community"] = community.name if community else ""
        if self.person is not None:
            raw["id_number"] = self.person.id_number
            cert = self.person.current_certificate
            if not raw["certificate_number"] and cert is not None:
                raw["certificate_number"] = cert.number
        record, errors = validate_person_record(raw, regions=self._lookup(), today=self.today)
        if errors:
            add_errors(self, errors)
        else:
            self.record = record
        return data


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        label="人员状态",
        choices=Person.Status.choices,
        required=False,
        error_messages={"invalid_choice": "请从列表中选择人员状态"},
        widget=_select(),
    )
    death_date = forms.DateField(
        label="死亡日期",
        required=False,
        help_text="状态为“死亡”时必填",
        error_messages={"invalid": "请填写有效日期，如 2023-05-06"},
        widget=_date_input(),
    )
    moved_out_on = forms.DateField(
        label="迁出日期",
        required=False,
        help_text="状态为“迁出”时填写，不填为今天；迁出当月照发，次月起停发",
        error_messages={"invalid": "请填写有效日期，如 2023-05-06"},
        widget=_date_input(),
    )


_DATE_ERRORS = {"invalid": "请填写有效日期，如 2024-03-01"}


class CircumstanceForm(forms.Form):
    """Record one of the person's circumstances (``circumstances.circumstance_add`` checks the rest)."""

    kind = forms.ChoiceField(
        label="情况",
        choices=[("", "请选择"), *CircumstanceKind.choices],
        required=False,
        error_messages={"invalid_choice": "请从列表中选择情况"},
        widget=_select(),
    )
    valid_from = forms.DateField(
        label="起始日期",
        required=False,
        help_text="迁出填迁出日期",
        error_messages=_DATE_ERRORS,
        widget=_date_input(),
    )
    valid_to = forms.DateField(
        label="截止日期",
        required=False,
        help_text="不填表示至今",
        error_messages=_DATE_ERRORS,
        widget=_date_input(),
    )
    amount = forms.CharField(
        label="金额(元/月)",
        required=False,
        max_length=20,
        help_text="仅老年护理补贴填写",
        widget=_text_input(inputmode="decimal", autocomplete="off"),
    )
    source = forms.CharField(
        label="来源",
        required=False,
        max_length=100,
        help_text="如：民政低保系统、村(社区)核实",
        widget=_text_input(),
    )


class CircumstanceEndForm(forms.Form):
    period = forms.IntegerField(widget=forms.HiddenInput)
    valid_to = forms.DateField(
        label="截止日期", required=False, error_messages=_DATE_ERRORS, widget=_date_input()
    )


class EmploymentForm(forms.Form):
    status = forms.ChoiceField(
        label="就业状况",
        choices=[("", "未填写"), *[c for c in EmploymentStatus.choices if c[0]]],
        required=False,
        error_messages={"invalid_choice": "请从列表中选择就业状况"},
        widget=_select(),
    )
    valid_from = forms.DateField(
        label="起始日期", required=False, error_messages=_DATE_ERRORS, widget=_date_input()
    )

    def clean_valid_from(self):
        value = self.cleaned_data.get("valid_from")
        if value is None:
            raise forms.ValidationError("请填写起始日期")
        return value


class CommunityForm(forms.Form):
    town = forms.ChoiceField(
        label="所属镇(街道)",
        required=False,
        error_messages={"invalid_choice": "请从列表中选择镇(街道)"},
        widget=_select(),
    )
    name = forms.CharField(
        label="名称", required=False, help_text="如：甪直村、澄湖社区", widget=_text_input(autocomplete="off")
    )
    kind = forms.ChoiceField(
        label="类型",
        choices=[(Region.Kind.COMMUNITY, "社区"), (Region.Kind.VILLAGE, "村")],
        required=False,
        error_messages={"invalid_choice": "请选择村或社区"},
        widget=_select(),
    )
    code = forms.CharField(
        label="统计代码",
        required=False,
        help_text="可不填，系统按所属镇(街道)代码自动编号",
        widget=_text_input(autocomplete="off", inputmode="numeric"),
    )

    def __init__(self, *args, towns: list[Region], **kwargs):
        self._towns = {str(t.pk): t for t in towns}
        if len(towns) == 1:
            kwargs.setdefault("initial", {"town": str(towns[0].pk)})
        super().__init__(*args, **kwargs)
        self.fields["town"].choices = [("", "请选择"), *((str(t.pk), t.name) for t in towns)]
        self.fields["town"].widget.attrs["aria-required"] = "true"
        self.fields["name"].widget.attrs["aria-required"] = "true"
        self.fields["town"].is_marked_required = self.fields["name"].is_marked_required = True
        self.fields["town" if len(towns) != 1 else "name"].widget.attrs["autofocus"] = True

    def clean(self):
        data = super().clean()
        data["town_obj"] = self._towns.get(data.get("town") or "")
        if "town" not in self.errors and data["town_obj"] is None:
            self.add_error("town", "请选择所属镇(街道)")
        return data
