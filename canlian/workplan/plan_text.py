"""Reading a year's work plan (工作要点) as text: sections, tasks and the targets inside the prose.

Pure functions over paragraphs (no ORM, no files): ``plan_parse(paragraphs, year, towns)`` → ``ParsedPlan``.
The paragraphs come from a .docx, a .txt or a PDF's text layer (``canlian.workplan.plan_files``).

- **Sections** are paragraphs that start with a Chinese numeral and ``、`` (``一、强化政治引领…``), whatever
  the heading style or markdown around them (``##``, ``**…**``).
- **Tasks** start with ``（一）`` / ``(一)`` (full or half width) and are numbered through the document in
  the order they appear (a document that restarts the numbering in each section still gets 1…N); a
  document with no such task uses ``1、`` / ``1.`` paragraphs instead. A task's text runs to the next task or
  section and is kept whole (every paragraph, joined by a line break).
- Text from a PDF or a plain-text file breaks paragraphs where a page or a line ended: a paragraph that does
  not end a sentence is joined to the next one unless that one starts a task or a section.
- **Targets** are numbers with a unit (人, 人次, 户, 个, 家, 场, 期, 所, %) in a task's sentences. A number
  in Chinese characters counts only after a verb that sets a target (``建成一家``; not ``一人一策`` or
  ``四个意识``); an ordinal (``第三期``) never counts. ``以上``/``不低于``/``达到``… make it a minimum,
  ``以内``/``不超过``… a maximum. The deadline is the date expression nearest to the number in the same
  sentence (``10月底前`` → the last day of October of the plan's year; ``年底前`` → 31 December;
  ``上半年`` → 30 June; ``三季度末`` → 30 September; ``6月15日前``); a sentence with a deadline and no
  number is a deadline-only target (value ``None``). The town is one named in the sentence, else the only
  town the task names; a name one character away from a town's (``甬直镇`` for ``甪直镇``, as a scan
  misreads it) is taken with a warning for the reviewer.
- A task with no target is qualitative.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

UNITS = ("人次", "人", "户", "个", "家", "场", "期", "所", "%")

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
CN_NUM = "零〇一二两三四五六七八九十百千万"

# words right before a number in Chinese characters that make it a target ("建成一家")
TARGET_VERBS = (
    "建成",
    "新建",
    "新增",
    "净增",
    "完成",
    "开展",
    "举办",
    "组织",
    "培训",
    "达到",
    "实现",
    "不少于",
    "至少",
    "创建",
    "改造",
    "建设",
    "打造",
    "帮扶",
    "扶持",
    "安置",
    "招聘",
    "评选",
    "培育",
    "覆盖",
    "服务",
    "资助",
    "救助",
    "适配",
    "走访",
    "慰问",
)
AT_LEAST_BEFORE = ("达到", "不低于", "不少于", "至少", "超过", "高于", "≥", ">=")
AT_MOST_BEFORE = ("不超过", "不高于", "控制在", "低于", "≤", "<=", "少于")
AT_LEAST_AFTER = ("以上", "及以上", "或以上")
AT_MOST_AFTER = ("以内", "以下", "及以下")

SENTENCE_END = "。！？；;!?"
PARAGRAPH_END = SENTENCE_END + "：:”」』）)"

_SECTION = re.compile(r"^([一二三四五六七八九十]{1,3})\s*[、.．]\s*(.*)$", re.S)
_TASK = re.compile(r"^[（(]\s*([一二三四五六七八九十百]{1,4})\s*[)）]\s*(.*)$", re.S)
_TASK_ARABIC = re.compile(r"^(\d{1,3})\s*[、.．]\s*(?!\d)(.*)$", re.S)
_MARKUP = re.compile(r"^[#>\s]+|\*\*|__|^\s*[-*]\s+")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")

_NUMBER = re.compile(r"(?P<num>\d+(?:\.\d+)?|[" + CN_NUM + r"]+)\s*(?P<unit>人次|人|户|个|家|场|期|所|%|％)")
_DEADLINES: list[tuple[re.Pattern, str]] = [
    (
        re.compile(
            r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})\s*月\s*(?P<d>\d{1,2})\s*[日号]"
        ),
        "day",
    ),
    (
        re.compile(
            r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})\s*月\s*(?P<part>底|末|份|上旬|中旬|下旬)"
        ),
        "month",
    ),
    (re.compile(r"(?:第)?(?P<q>[一二三四1-4])\s*季度(?:末|底)?"), "quarter"),
    (re.compile(r"上半年|年中"), "half"),
    (re.compile(r"年底|年末|年内|下半年|全年|年度内"), "year"),
]


@dataclass
class ParsedTarget:
    task: int  # the task's number through the document
    text: str  # the clause the target was found in
    value: Decimal | None  # None: a deadline-only target
    unit: str
    comparator: str  # "at_least" or "at_most"
    deadline: date | None
    town: str | None  # a town's name as registered
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        value = None
        if self.value is not None:
            value = int(self.value) if self.value == self.value.to_integral() else float(self.value)
        return {
            "task": self.task,
            "text": self.text,
            "value": value,
            "unit": self.unit,
            "comparator": self.comparator,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "town": self.town,
        }


@dataclass
class ParsedTask:
    number: int  # 1…N through the document
    label: str  # as written: "（七）", "(七)", "3、"
    section: int  # 0 before the first section
    section_title: str
    title: str  # the first sentence (the task's heading in most plans)
    text: str  # the whole task, paragraphs joined by "\n"
    targets: list[ParsedTarget] = field(default_factory=list)

    @property
    def qualitative(self) -> bool:
        return not self.targets


@dataclass
class ParsedPlan:
    year: int
    title: str
    sections: list[tuple[int, str]]
    tasks: list[ParsedTask]
    warnings: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[ParsedTarget]:
        return [t for task in self.tasks for t in task.targets]

    def as_json(self) -> dict:
        return {
            "year": self.year,
            "title": self.title,
            "sections": len(self.sections),
            "tasks": len(self.tasks),
            "targets": [t.as_json() for t in self.targets],
            "warnings": self.warnings + [w for t in self.targets for w in t.warnings],
        }


# ---- numbers and dates ---------------------------------------------------------------------------------


def cn_number(text: str) -> int | None:
    """``十七`` → 17, ``一百二十`` → 120, ``两`` → 2, ``3`` → 3; None when it is not a number."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in CN_DIGITS and c not in CN_UNITS for c in text):
        return None
    total, section, digit = 0, 0, None
    for c in text:
        if c in CN_DIGITS:
            if digit is not None and digit != 0:
                return None  # "一二" is not a number
            digit = CN_DIGITS[c]
        else:
            unit = CN_UNITS[c]
            if unit == 10000:
                total += (section + (digit or 0)) * unit
                section, digit = 0, None
            else:
                section += (1 if digit is None else digit) * unit
                digit = None
    return total + section + (digit or 0)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _deadline(match: re.Match, kind: str, year: int) -> date | None:
    groups = match.groupdict()
    y = int(groups["y"]) if groups.get("y") else year
    if kind == "day":
        m, d = cn_number(groups["m"]), int(groups["d"])
        try:
            return date(y, m, d) if m else None
        except ValueError:
            return None
    if kind == "month":
        m = cn_number(groups["m"])
        if not m or not 1 <= m <= 12:
            return None
        part = groups["part"]
        day = {"上旬": 10, "中旬": 20}.get(part)
        return date(y, m, day) if day else _month_end(y, m)
    if kind == "quarter":
        q = cn_number(groups["q"])
        return _month_end(y, q * 3) if q and 1 <= q <= 4 else None
    if kind == "half":
        return date(y, 6, 30)
    return date(y, 12, 31)


def find_deadlines(sentence: str, year: int) -> list[tuple[int, date, str]]:
    """(position, date, words) of every date expression in a sentence, without overlaps."""
    found: list[tuple[int, int, date, str]] = []
    for pattern, kind in _DEADLINES:
        for m in pattern.finditer(sentence):
            if any(s <= m.start() < e or s < m.end() <= e for s, e, _, _ in found):
                continue
            day = _deadline(m, kind, year)
            if day:
                found.append((m.start(), m.end(), day, m.group(0)))
    return [(s, d, w) for s, _, d, w in sorted(found)]


# ---- towns ---------------------------------------------------------------------------------------------


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def find_towns(text: str, towns: list[str]) -> list[tuple[str, str]]:
    """(town, words as written) for every town named in the text: the full name, the name without 镇/街道
    (``木渎``), or a name one character away with the same ending (a scan's misreading)."""
    found: list[tuple[str, str]] = []
    for town in towns:
        if town in text:
            found.append((town, town))
            continue
        short = _short(town)
        if short != town and re.search(re.escape(short) + r"(?!路|大道|村|社区)", text):
            found.append((town, short))
            continue
        if len(town) >= 3:
            n = len(town)
            for i in range(len(text) - n + 1):
                window = text[i : i + n]
                if window[-1] != town[-1]:
                    continue
                if sum(a != b for a, b in zip(window, town, strict=True)) == 1 and _is_cjk(window):
                    found.append((town, window))
                    break
    return found


def _is_cjk(s: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in s)


# ---- paragraphs ----------------------------------------------------------------------------------------


def clean(text: str) -> str:
    text = _MARKUP.sub("", text.strip())
    text = text.replace("**", "").replace("__", "")
    return _SPACES.sub(" ", text).strip()


def _starts_block(text: str) -> bool:
    return bool(_SECTION.match(text) or _TASK.match(text) or _TASK_ARABIC.match(text))


def join_broken(paragraphs: list[str]) -> list[str]:
    """Join a paragraph that does not end a sentence with the next one (a page or line break inside it),
    unless the next one starts a task or a section. Empty paragraphs are dropped."""
    out: list[str] = []
    closed = True  # the last paragraph may not be continued (a heading)
    for raw in paragraphs:
        text = clean(raw)
        if not text:
            continue
        heading = raw.lstrip().startswith("#")  # a markdown heading line stands alone
        if (
            out
            and not closed
            and not heading
            and out[-1][-1] not in PARAGRAPH_END
            and not _starts_block(text)
        ):
            out[-1] = _join(out[-1], text)
        else:
            out.append(text)
        closed = heading or _is_heading(out[-1])
    return out


def _is_heading(text: str) -> bool:
    """A section heading or a title line: short, no sentence punctuation at its end."""
    return bool(_SECTION.match(text)) or (len(text) <= 40 and "工作要点" in text)


def _join(a: str, b: str) -> str:
    # Chinese text joins with no space; two Latin words or numbers keep one
    if a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum():
        return a + " " + b
    return a + b


# ---- the plan ------------------------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[。！？；;!?\n])", text)
    return [p.strip() for p in parts if p.strip()]


def _clause_bounds(sentence: str, pos: int) -> tuple[int, int]:
    start = max(sentence.rfind(c, 0, pos) for c in "，,：:") + 1
    ends = [i for i in (sentence.find(c, pos) for c in "，,。；;！？!?") if i >= 0]
    return start, min(ends) if ends else len(sentence)


def _comparator(before: str, after: str) -> str:
    """The longest matching word decides: 不少于 is a minimum although it ends with 少于."""
    least = max((len(w) for w in AT_LEAST_BEFORE if before.endswith(w)), default=0)
    most = max((len(w) for w in AT_MOST_BEFORE if before.endswith(w)), default=0)
    if after.startswith(AT_MOST_AFTER) or most > least:
        return "at_most"
    return "at_least"


def _number_at(sentence: str, m: re.Match) -> Decimal | None:
    """The value of a number-with-unit match when it is a target, else None."""
    num = m.group("num")
    before = sentence[: m.start()].rstrip()
    if before.endswith("第") or re.search(r"\d\s*[-~～—至到]\s*$", before):
        return None  # an ordinal (第三期) or the end of a range (16-59)
    if re.match(r"[-~～—至到]\s*\d", sentence[m.end() :]):
        return None  # the start of a range
    if m.group("unit") not in ("%", "％") and re.match(r"(周岁|岁|年)", sentence[m.end() :]):
        return None
    if num[0].isdigit():
        return Decimal(num)
    if not before.endswith(TARGET_VERBS):
        return None  # 一人一策, 四个意识, 两张清单: words, not targets
    value = cn_number(num)
    return None if value is None else Decimal(value)


def _towns_for(sentence: str, start: int, end: int, pos: int, title_towns: list, towns: list[str]):
    """The towns a target at ``pos`` (its clause ``start:end``) is for, with the words as written: named in
    its clause; else named earlier in its sentence; else the one town the task's heading names."""
    clause = find_towns(sentence[start:end], towns)
    if clause:
        return clause
    earlier = find_towns(sentence[:start], towns)
    if earlier:
        return earlier
    return title_towns if len(title_towns) == 1 else []


def _targets_in(task: ParsedTask, year: int, towns: list[str]) -> list[ParsedTarget]:
    sentences = _sentences(task.text)
    heading = sentences[0] if len(sentences) > 1 else ""
    title_towns = find_towns(heading, towns)
    targets: list[ParsedTarget] = []

    def add(sentence, start, end, pos, value, unit, comparator, deadline):
        named = _towns_for(sentence, start, end, pos, title_towns, towns)
        clause = sentence[start:end].strip(" ，,。；;")
        each = len(named) > 1 and "各" in sentence[start:pos]
        for town, words in named if each else [named[0] if len(named) == 1 else (None, None)]:
            warnings = []
            if town and words not in (town, _short(town)):
                warnings.append(f"任务{task.number}：文中“{words}”按相近名称识别为“{town}”，请核对")
            targets.append(
                ParsedTarget(task.number, clause, value, unit, comparator, deadline, town, warnings)
            )

    for sentence in sentences:
        deadlines = find_deadlines(sentence, year)
        used: set[int] = set()
        for m in _NUMBER.finditer(sentence):
            value = _number_at(sentence, m)
            if value is None:
                continue
            start, end = _clause_bounds(sentence, m.start())
            inside = [d for d in deadlines if start <= d[0] < end]
            before = [d for d in deadlines if d[0] < start]
            pick = inside[0] if inside else before[-1] if before else deadlines[0] if deadlines else None
            if pick:
                used.add(pick[0])
            comparator = _comparator(sentence[: m.start()].rstrip(), sentence[m.end() :].lstrip())
            add(
                sentence,
                start,
                end,
                m.start(),
                value,
                m.group("unit").replace("％", "%"),
                comparator,
                pick[1] if pick else None,
            )
        for pos, day, words in deadlines:
            if pos in used or words in ("全年", "年度内", "年内"):
                continue
            start, end = _clause_bounds(sentence, pos)
            if any(start <= p < end for p in used):
                continue
            add(sentence, start, end, pos, None, "", "at_least", day)
    return targets


def plan_parse(paragraphs: list[str], year: int, towns: list[str], *, join: bool = True) -> ParsedPlan:
    """The plan in ``paragraphs`` (text, in order). ``join``: re-join paragraphs broken by pages or lines
    (text files and PDFs; a .docx has real paragraphs). ``towns``: the district's town names."""
    paras = join_broken(paragraphs) if join else [p for p in (clean(x) for x in paragraphs) if p]
    use_arabic = not any(_TASK.match(p) for p in paras)
    titled = [p for p in paras if "工作要点" in p and len(p) <= 60]
    title = next(
        (p for p in titled if p.endswith("工作要点")), titled[0] if titled else (paras[0] if paras else "")
    )
    sections: list[tuple[int, str]] = []
    tasks: list[ParsedTask] = []
    current: ParsedTask | None = None
    warnings: list[str] = []
    for p in paras:
        section = _SECTION.match(p)
        task = _TASK.match(p) or (use_arabic and _TASK_ARABIC.match(p))
        if section and not task:
            sections.append((len(sections) + 1, clean(section.group(2))))
            current = None
            continue
        if task:
            body = task.group(2).strip()
            label = p[: len(p) - len(task.group(2))].strip()
            first = re.split(r"(?<=[。！？；;])", body, maxsplit=1)[0]
            current = ParsedTask(
                number=len(tasks) + 1,
                label=label,
                section=len(sections),
                section_title=sections[-1][1] if sections else "",
                title=first.rstrip("。；;"),
                text=body,
            )
            tasks.append(current)
            continue
        if current is not None:
            current.text = current.text + "\n" + p
    for t in tasks:
        written = cn_number(re.sub(r"[^\d" + CN_NUM + "]", "", t.label))
        if written is not None and written != t.number and not use_arabic:
            warnings.append(f"第{t.number}项任务编号写作“{t.label}”，已按文中顺序编为第{t.number}项")
            break
    years = {int(y) for y in re.findall(r"(20\d{2})\s*年", title)}
    if years and year not in years:
        warnings.append(f"文件标题“{title}”中的年份与导入年份 {year} 不一致，请核对")
    if not tasks:
        warnings.append("未找到任何任务：任务应以“（一）”“(二)”或“1、”开头")
    for t in tasks:
        t.targets = _targets_in(t, year, towns)
    return ParsedPlan(year=year, title=title, sections=sections, tasks=tasks, warnings=warnings)
