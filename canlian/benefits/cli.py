"""``canlian eligibility ID_NUMBER YYYY-MM [--json]``."""

from __future__ import annotations

import json
import re
import sys
from datetime import date

from canlian.accounts import access
from canlian.registry import identity
from canlian.registry.services import id_index

from .parameters import ParameterError
from .selectors import person_eligibility


def parse_month(text: str) -> date:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"月份格式应为 YYYY-MM，例如 2023-05：{text}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def eligibility_cli(*, id_number: str, month: str, as_json: bool, acting_user) -> int:
    try:
        number = identity.validate_id(id_number)
        day = parse_month(month)
    except identity.IdentityError as exc:
        print(f"身份证号无效：{exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    person = access.persons_visible(acting_user).filter(id_number_index=id_index(number)).first()
    if person is None:
        print("未找到该身份证号对应的残疾人（或无权查看） / no such person", file=sys.stderr)
        return 1
    try:
        result = person_eligibility(acting_user, person, day)
    except ParameterError as exc:
        print(f"参数缺失：{exc}", file=sys.stderr)
        return 2
    if as_json:
        out = {
            "person": person.masked_id,
            "month": f"{day:%Y-%m}",
            "programmes": {
                name: {"eligible": r["eligible"], "amount": str(r["amount"]), "reasons": r["reasons"]}
                for name, r in result.items()
            },
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"{person.name}（{person.masked_id}） {day:%Y年%m月}")
    for r in result.values():
        verdict = (
            f"符合，{r['amount']} 元"
            if r["eligible"] and r["cash"]
            else ("符合" if r["eligible"] else "不符合")
        )
        print(f"\n{r['label']}：{verdict}")
        for reason in r["reasons"]:
            print(f"  {reason}")
    return 0
