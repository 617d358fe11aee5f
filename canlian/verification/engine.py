"""The comparison engine: reads the registry, the lists, enrolments and payroll lines into Polars frames
(one query per table, ``COPY`` on PostgreSQL through ``benefits.selectors.frame_of``; never a query per row),
calls ``matching.py`` and ``findings.py``, and writes matches and findings in bulk.

- Exact pass: the blind index of the list's normalised ID joins ``Person.id_number_index``; no ID is
  decrypted.
- Fuzzy pass, only for rows left without an exact match: the registry's IDs are decrypted in memory (never
  written anywhere) for the ID edit distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

import polars as pl
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from canlian.benefits.models import Enrolment, Payroll, PayrollLine
from canlian.benefits.selectors import current_parameters, facts_for_month, frame_of, registry_frames
from canlian.common.audit import audit_record_many
from canlian.common.bulk import commit_slices, write_slice
from canlian.common.crypto import decrypt
from canlian.common.jobs import Progress, noop_progress
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person

from . import findings as rules
from .matching import AGREEMENT, RULE_TEXT, Thresholds, exact_matches, fuzzy_candidates
from .models import Finding, ListKind, Match, OutsideList

CHUNK = 900  # ids per IN (…) on SQLite
WRITE_SLICE = 250  # matches or findings per transaction when sliced (``common.bulk``): ~0.1-0.5 s each
ROW_SCHEMA = {
    "row_id": pl.Int64,
    "id_index": pl.Utf8,
    "id_raw": pl.Utf8,
    "name": pl.Utf8,
    "name_pinyin": pl.Utf8,
    "name_initials": pl.Utf8,
    "birth_date": pl.Date,
}


def thresholds_for(kind: str | None = None) -> Thresholds:
    """The matching thresholds of a list kind, from ``CANLIAN_MATCHING``: ``candidate`` (the lowest score
    kept for a person to decide), ``auto`` (the score from which a candidate acts without one) and
    ``near_name`` (one for all kinds); ``candidate`` and ``auto`` may be set per kind under ``kinds``. A bad
    value stops with a Chinese message."""
    conf = getattr(settings, "CANLIAN_MATCHING", {}) or {}
    default = Thresholds()
    base = {
        "candidate": conf.get("candidate", conf.get("min_score", default.min_score)),
        "auto": conf.get("auto", default.auto_score),
        "near_name": conf.get("near_name", default.near_name),
    }
    kinds = conf.get("kinds", {}) or {}
    unknown = sorted(set(kinds) - set(ListKind.values))
    if unknown:
        raise ImproperlyConfigured(f"CANLIAN_MATCHING 的 kinds 中有未知的名单类型：{'、'.join(unknown)}")
    for name, own in kinds.items():
        extra = sorted(set(own or {}) - {"candidate", "auto"})
        if extra:
            raise ImproperlyConfigured(
                f"CANLIAN_MATCHING（{ListKind(name).label}）只能设置 candidate 和 auto，不能设置：{'、'.join(extra)}"
            )
    own = {**base, **((kinds.get(kind) or {}) if kind else {})}
    where = f"CANLIAN_MATCHING（{ListKind(kind).label}）" if kind else "CANLIAN_MATCHING"
    try:
        candidate, auto, near = float(own["candidate"]), float(own["auto"]), float(own["near_name"])
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where}的阈值应为 0 到 1 之间的数") from None
    if not (0 < candidate <= auto <= 1) or not (0 < near <= 1):
        raise ImproperlyConfigured(
            f"{where}的阈值应满足 0 < 候选阈值 candidate（{candidate}）≤ 自动匹配阈值 auto（{auto}）≤ 1，"
            f"且 0 < near_name（{near}）≤ 1"
        )
    return Thresholds(min_score=candidate, near_name=near, auto_score=auto)


def thresholds() -> Thresholds:
    """The default thresholds (kinds without their own)."""
    return thresholds_for(None)


def _chunks(ids: Iterable[int], size: int = CHUNK):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _decrypt_column(df: pl.DataFrame, column: str) -> pl.DataFrame:
    plain = [decrypt(v) if v else "" for v in df[column].to_list()]
    return df.with_columns(pl.Series(column, plain, dtype=pl.Utf8))


# ---- matching --------------------------------------------------------------------------------------------


def registry_match_frame() -> pl.DataFrame:
    """Everyone in the registry: person_id, id_index, name, pinyin, initials, birth date, and the ID as
    stored (ciphertext: ``decrypt_ids`` when the fuzzy pass needs it)."""
    qs = Person.objects.order_by().annotate(stored_id=Cast("id_number", TextField()))
    schema = {
        "person_id": pl.Int64,
        "id_index": pl.Utf8,
        "name": pl.Utf8,
        "name_pinyin": pl.Utf8,
        "name_initials": pl.Utf8,
        "birth_date": pl.Date,
        "id_number": pl.Utf8,
    }
    return frame_of(
        qs.values_list(
            "pk", "id_number_index", "name", "name_pinyin", "name_initials", "birth_date", "stored_id"
        ),
        schema,
    )


def decrypt_ids(registry: pl.DataFrame) -> pl.DataFrame:
    """The registry's ID numbers in the clear, in memory only, for the ID edit distance."""
    return _decrypt_column(registry, "id_number")


def rows_frame(rows_qs) -> pl.DataFrame:
    """List rows for matching, their normalised raw ID decrypted in memory, with their list's kind."""
    qs = rows_qs.order_by().annotate(stored_raw=Cast("id_raw", TextField()))
    df = frame_of(
        qs.values_list(
            "pk",
            "id_index",
            "stored_raw",
            "name",
            "name_pinyin",
            "name_initials",
            "birth_date",
            "outside_list__kind",
        ),
        {**ROW_SCHEMA, "list_kind": pl.Utf8},
    )
    return _decrypt_column(df, "id_raw").with_columns(
        pl.when(pl.col("id_index") == "").then(None).otherwise(pl.col("id_index")).alias("id_index")
    )


def match_evidence(r: dict) -> dict:
    """What the person deciding a candidate sees: the rule, the scores, and which fields agree or differ
    (``agree``/``differ``/``unknown``: lists of Chinese field labels, in ``AGREEMENT`` order)."""
    fields = {column: r.get(column) for column, _ in AGREEMENT}
    return {
        "rule": RULE_TEXT.get(r["match_type"], r["match_type"]),
        "id_distance": int(r["id_distance"]),
        "name_similarity": round(float(r["name_similarity"]), 3),
        "birth_equal": bool(r["birth_equal"]),
        "tied": bool(r["tied"]),
        "fields": {k: (None if v is None else bool(v)) for k, v in fields.items()},
        "agree": [label for column, label in AGREEMENT if fields[column] is True],
        "differ": [label for column, label in AGREEMENT if fields[column] is False],
        "unknown": [label for column, label in AGREEMENT if fields[column] is None],
    }


def _row_slices(matches: list[Match], size: int) -> Iterator[list[Match]]:
    """The matches in their order, in slices of about ``size`` that never split one list row's: a row with
    a match is not matched again, so a run stopped between two slices must not leave a row with only part of
    its candidates."""
    by_row: dict[int, list[Match]] = {}
    for m in matches:
        by_row.setdefault(m.row_id, []).append(m)
    part: list[Match] = []
    for group in by_row.values():
        part += group
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def match_rows(
    *,
    rows: pl.DataFrame,
    run=None,
    kind: str | None = None,
    progress: Progress = noop_progress,
    slice_rows: int | None = None,
) -> dict[str, int]:
    """Exact and fuzzy matches for ``rows`` (ROW_SCHEMA, and ``list_kind`` unless ``kind`` is given),
    written as ``Match`` rows.

    Exact matches act at once (``auto``); fuzzy candidates are kept when they reach their list kind's
    candidate threshold and wait for a person (``pending``), unless they reach its auto threshold.
    Counts: matched_exact, candidates (pending), unmatched, and matched_fuzzy when a candidate acted alone.
    Written about ``slice_rows`` (default ``WRITE_SLICE``) matches per ``common.bulk.write_slice``, each
    row's together."""
    if rows.height == 0:
        return {"matched_exact": 0, "candidates": 0, "unmatched": 0}
    if kind is not None or "list_kind" not in rows.columns:
        rows = rows.with_columns(pl.lit(kind, dtype=pl.Utf8).alias("list_kind"))
    by_kind = {k: thresholds_for(k) for k in rows["list_kind"].unique().to_list()}
    limits = pl.DataFrame(
        {
            "list_kind": list(by_kind),
            "_candidate": [t.min_score for t in by_kind.values()],
            "_auto": [t.auto_score for t in by_kind.values()],
        },
        schema={"list_kind": pl.Utf8, "_candidate": pl.Float64, "_auto": pl.Float64},
    )
    progress(0, 3, "精确比对（身份证号）")
    registry = registry_match_frame()
    exact = exact_matches(registry, rows, key="id_index")
    progress(1, 3, "模糊比对（姓名、出生日期、身份证号相近）")
    rest = rows.filter(~pl.col("row_id").is_in(exact["row_id"].implode()))
    fuzzy = pl.DataFrame()
    if rest.height:
        registry_ids = decrypt_ids(registry)
        candidates_in = rest.with_columns(
            pl.when(pl.col("id_index").is_not_null())
            .then(pl.col("id_raw"))
            .otherwise(None)
            .alias("id_number")
        )
        # the lowest candidate threshold of the kinds present, then each row's own: the best candidate of
        # a row does not depend on the threshold, only whether it is kept
        lowest = min(by_kind.values(), key=lambda t: t.min_score)
        fuzzy = (
            fuzzy_candidates(registry_ids, candidates_in, thresholds=lowest)
            .join(rest.select("row_id", "list_kind"), on="row_id", how="left", nulls_equal=True)
            .join(limits, on="list_kind", how="left", nulls_equal=True)
            .filter(pl.col("score") >= pl.col("_candidate"))
        )
    progress(2, 3, "写入匹配结果")
    matches = [
        Match(
            row_id=row_id,
            person_id=person_id,
            run=run,
            match_type=Match.EXACT,
            score=1.0,
            evidence={"rule": "身份证号一致"},
            status=Match.Status.AUTO,
        )
        for row_id, person_id in exact.iter_rows()
    ]
    acted_alone = 0
    for r in fuzzy.iter_rows(named=True) if fuzzy.height else ():
        alone = r["score"] >= r["_auto"] and not r["tied"]
        acted_alone += alone
        matches.append(
            Match(
                row_id=r["row_id"],
                person_id=r["person_id"],
                run=run,
                match_type=r["match_type"],
                score=round(float(r["score"]), 4),
                evidence=match_evidence(r),
                status=Match.Status.AUTO if alone else Match.Status.PENDING,
            )
        )
    for part in _row_slices(matches, slice_rows or WRITE_SLICE):
        with write_slice():
            Match.objects.bulk_create(part, batch_size=2000, ignore_conflicts=True)
    exact_rows = exact["row_id"].n_unique() if exact.height else 0
    fuzzy_rows = fuzzy.height if fuzzy.height else 0
    progress(3, 3, "比对完成")
    counts = {
        "matched_exact": exact_rows,
        "candidates": fuzzy_rows - acted_alone,
        "unmatched": rows.height - exact_rows - fuzzy_rows,
    }
    if acted_alone:
        counts["matched_fuzzy"] = acted_alone
    return counts


# ---- findings --------------------------------------------------------------------------------------------


def _acting_frame(acting_q: Q) -> pl.DataFrame:
    qs = (
        Match.objects.filter(acting_q, status__in=[Match.Status.AUTO, Match.Status.CONFIRMED])
        .order_by()
        .values_list(
            "row_id",
            "pk",
            "person_id",
            "row__outside_list_id",
            "row__outside_list__kind",
            "row__outside_list__received_on",
            "row__event_date",
            "row__end_date",
            "row__amount_fen",
            "row__row_number",
            "match_type",
            "score",
        )
    )
    return frame_of(qs, rules.ACTING_SCHEMA)


def _persons_frame(person_q: Q | None) -> pl.DataFrame:
    qs = Person.objects.order_by()
    if person_q is not None:
        qs = qs.filter(person_q)
    return frame_of(
        qs.values_list("pk", "town_id", "name_pinyin", "birth_date", "status", "death_date"),
        rules.PERSON_SCHEMA,
    )


def _certificates_frame(person_q: Q | None) -> pl.DataFrame:
    qs = Certificate.objects.filter(is_current=True).order_by()
    if person_q is not None:
        qs = qs.filter(person__in=Person.objects.filter(person_q))
    return frame_of(
        qs.values_list("person_id", "status", "valid_until", "status_changed_on"), rules.CERT_SCHEMA
    )


def _enrolments_frame(person_q: Q | None) -> pl.DataFrame:
    qs = Enrolment.objects.order_by()
    if person_q is not None:
        qs = qs.filter(person__in=Person.objects.filter(person_q))
    schema = {k: v for k, v in rules.ENROLMENT_SCHEMA.items() if k != "monthly_fen"}
    schema = {k: schema[k] for k in ("enrolment_id", "person_id", "programme", "status", "start_month")}
    df = frame_of(qs.values_list("pk", "person_id", "programme__code", "status", "start_month"), schema)
    return df.with_columns(
        pl.lit(None, dtype=pl.Int64).alias("monthly_fen"),
        pl.lit(None, dtype=pl.Date).alias("last_paid_month"),
        pl.lit(None, dtype=pl.Date).alias("programme_last_payroll"),
    )


def lines_frame(enrolment_ids: Iterable[int]) -> pl.DataFrame:
    """Payroll lines that were not failed, for these enrolments."""
    parts = [
        frame_of(
            PayrollLine.objects.filter(enrolment_id__in=chunk)
            .exclude(status=PayrollLine.Status.FAILED)
            .order_by()
            .values_list("enrolment_id", "for_month", "amount_fen"),
            rules.LINE_SCHEMA,
        )
        for chunk in _chunks(sorted(set(enrolment_ids)), 20000 if _pg() else CHUNK)
    ]
    return pl.concat(parts) if parts else pl.DataFrame(schema=rules.LINE_SCHEMA)


def _pg() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def monthly_amounts(enrolments: pl.DataFrame, month: date) -> pl.DataFrame:
    """enrolment_id → monthly_fen: the amount of the enrolment's latest regular payroll line, else what the
    benefit rules would pay this month if the finding's cause were absent (alive, in the district, certificate
    valid, not 特困, no other care benefit). Non-cash programmes: 0."""
    cash = enrolments.filter(pl.col("programme").is_in(rules.CASH_PROGRAMMES))
    ids = cash["enrolment_id"].to_list()
    latest_parts = [
        frame_of(
            PayrollLine.objects.filter(enrolment_id__in=chunk, kind=PayrollLine.Kind.REGULAR)
            .order_by()
            .values_list("enrolment_id", "for_month", "amount_fen"),
            rules.LINE_SCHEMA,
        )
        for chunk in _chunks(ids, 20000 if _pg() else CHUNK)
    ]
    latest = (
        pl.concat(latest_parts)
        .sort("for_month")
        .group_by("enrolment_id")
        .agg(pl.col("amount_fen").last().alias("paid"), pl.col("for_month").last().alias("last_paid_month"))
        if latest_parts
        else pl.DataFrame(schema={"enrolment_id": pl.Int64, "paid": pl.Int64, "last_paid_month": pl.Date})
    )
    missing = cash.join(latest, on="enrolment_id", how="anti")
    by_rule = pl.DataFrame(schema={"enrolment_id": pl.Int64, "rule": pl.Int64})
    if missing.height:
        person_ids = missing["person_id"].unique().to_list()
        parts = []
        for chunk in _chunks(person_ids, 20000 if _pg() else CHUNK):
            frames = registry_frames(persons=Person.objects.filter(pk__in=chunk))
            facts = facts_for_month(frames, month).with_columns(
                pl.lit(None, dtype=pl.Date).alias("death_date"),
                pl.lit(False).alias("moved_out"),
                pl.lit("valid").alias("cert_status"),
                pl.lit(date(9999, 12, 31)).alias("cert_valid_until"),
                pl.lit(None, dtype=pl.Date).alias("cert_status_changed_on"),
                pl.lit(False).alias("tekun"),
                pl.lit(False).alias("injury_care"),  # what would be paid without the stopping fact
            )
            from canlian.benefits.parameters import NoValueYet
            from canlian.benefits.rules import evaluate

            try:
                result = evaluate(facts, month, current_parameters(), programmes=list(rules.CASH_PROGRAMMES))
            except NoValueYet:  # no known standard for the month: the money at stake is not known (0)
                continue
            parts.append(
                result.unpivot(
                    index="person_id",
                    on=[f"{p}_amount_fen" for p in rules.CASH_PROGRAMMES],
                    variable_name="programme",
                    value_name="rule",
                ).with_columns(pl.col("programme").str.replace("_amount_fen", "", literal=True))
            )
        if parts:
            by_rule = (
                missing.select("enrolment_id", "person_id", "programme")
                .join(pl.concat(parts), on=["person_id", "programme"], how="left")
                .select("enrolment_id", pl.col("rule").cast(pl.Int64))
            )
    last_payroll = pl.DataFrame(
        list(
            Payroll.objects.values("programme__code")
            .annotate(m=Max("month"))
            .values_list("programme__code", "m")
        ),
        schema={"programme": pl.Utf8, "programme_last_payroll": pl.Date},
        orient="row",
    )
    return (
        enrolments.select("enrolment_id", "programme")
        .join(latest, on="enrolment_id", how="left")
        .join(by_rule, on="enrolment_id", how="left")
        .join(last_payroll, on="programme", how="left")
        .select(
            "enrolment_id",
            pl.when(pl.col("programme").is_in(rules.CASH_PROGRAMMES))
            .then(pl.coalesce("paid", "rule", pl.lit(0)))
            .otherwise(0)
            .cast(pl.Int64)
            .alias("monthly_fen"),
            "last_paid_month",
            "programme_last_payroll",
        )
    )


def _set_monthly(enrolments: pl.DataFrame, amounts: pl.DataFrame) -> pl.DataFrame:
    drop = [
        c for c in ("monthly_fen", "last_paid_month", "programme_last_payroll") if c in enrolments.columns
    ]
    return enrolments.drop(drop).join(amounts, on="enrolment_id", how="left")


def _amounts_for(enrolments: pl.DataFrame, ids: set[int], month: date) -> pl.DataFrame:
    return monthly_amounts(enrolments.filter(pl.col("enrolment_id").is_in(list(ids))), month)


def compute_findings(*, month: date, acting_q: Q, complete_list_ids: list[int], registry_checks: bool = True):
    """(findings frame with money, acting frame) for the matches selected by ``acting_q``."""
    params = current_parameters()
    acting = _acting_frame(acting_q)
    person_q = None if registry_checks else Q(pk__in=acting["person_id"].unique().to_list())
    persons = _persons_frame(person_q)
    enrolments = _enrolments_frame(person_q)
    listed = set(acting["person_id"].to_list())
    listed_enrolments = set(
        enrolments.filter(pl.col("person_id").is_in(list(listed)))["enrolment_id"].to_list()
    )
    amounts = _amounts_for(enrolments, listed_enrolments, month)
    enrolments = _set_monthly(enrolments, amounts)
    rolls = frame_of(
        OutsideList.objects.filter(pk__in=complete_list_ids, kind=ListKind.DIBAO, complete=True)
        .order_by()
        .values_list("pk", "received_on"),
        rules.ROLL_SCHEMA,
    )
    periods = pl.DataFrame(schema=rules.PERIOD_SCHEMA)
    if rolls.height:
        periods = frame_of(
            EconomicStatusPeriod.objects.filter(status="dibao")
            .order_by()
            .values_list("person_id", "status", "valid_from", "valid_to"),
            rules.PERIOD_SCHEMA,
        )
    facts = rules.Facts(
        month=month,
        acting=acting,
        persons=persons,
        certificates=_certificates_frame(person_q),
        enrolments=enrolments,
        lines=lines_frame(listed_enrolments),
        periods=periods,
        complete_rolls=rolls,
        child_age_limit=int(params.at("child_rehab.age_limit", month)),
        custodial_min=int(params.at("custodial_care.age_min", month)),
        custodial_max=int(params.at("custodial_care.age_max", month)),
        registry_checks=registry_checks,
    )
    found = rules.findings_frame(facts)
    if found.height == 0:
        return rules.with_money(found, enrolments, rules.empty(rules.LINE_SCHEMA)), acting
    needed = set(found["enrolment_id"].drop_nulls().to_list())
    dup = found.filter(pl.col("kind") == "duplicate_person")
    if dup.height:
        both = set(dup["person_id"].to_list()) | set(dup["other_person_id"].to_list())
        needed |= set(
            enrolments.filter(pl.col("person_id").is_in(list(both)) & pl.col("status").is_in(rules.OPEN))[
                "enrolment_id"
            ].to_list()
        )
    amounts = pl.concat([amounts, _amounts_for(enrolments, needed - listed_enrolments, month)])
    enrolments = _set_monthly(enrolments, amounts)
    return rules.with_money(found, enrolments, lines_frame(needed)), acting


def findings_write(
    *, run, found: pl.DataFrame, acting: pl.DataFrame, acting_user, slice_rows: int | None = None
) -> list[Finding]:
    """Create the findings not already open or confirmed for the same (kind, person, enrolment), nor
    dismissed for the same evidence (same list row, or the registry). Written ``slice_rows`` per
    ``common.bulk.write_slice``, each slice with its audit rows; a re-run after an interruption creates only
    the findings not yet written (those are open: held)."""
    if found.height == 0:
        return []
    held = set(
        Finding.objects.filter(status__in=[Finding.Status.OPEN, Finding.Status.CONFIRMED]).values_list(
            "kind", "person_id", "enrolment_id"
        )
    )
    dismissed = set(
        Finding.objects.filter(status=Finding.Status.DISMISSED).values_list(
            "kind", "person_id", "enrolment_id", "row_id"
        )
    )
    by_match = {a["match_id"]: a for a in acting.iter_rows(named=True)} if acting.height else {}
    # a confirmed candidate carries what the person saw when confirming it: which fields agree, which differ
    fuzzy_ids = sorted(
        {
            m
            for m in found["match_id"].drop_nulls().to_list()
            if by_match.get(m, {}).get("match_type", Match.EXACT) != Match.EXACT
        }
    )
    decided = {}
    for chunk in _chunks(fuzzy_ids):
        decided.update(Match.objects.filter(pk__in=chunk).values_list("pk", "evidence"))
    new = []
    for r in found.iter_rows(named=True):
        key = (r["kind"], r["person_id"], r["enrolment_id"])
        if key in held or (*key, r["row_id"]) in dismissed:
            continue
        held.add(key)
        evidence = {"reason": r["reason"], "source": "registry" if r["match_id"] is None else "list"}
        a = by_match.get(r["match_id"]) if r["match_id"] is not None else None
        if a is not None:
            evidence.update(
                {
                    "match_type": a["match_type"],
                    "score": a["score"],
                    "list_id": a["list_id"],
                    "list_kind": a["list_kind"],
                    "list_received_on": a["received_on"].isoformat(),
                    "row_number": a["row_number"],
                    "event_date": a["event_date"].isoformat() if a["event_date"] else "",
                }
            )
            seen = decided.get(r["match_id"]) or {}
            if a["match_type"] != Match.EXACT and seen:
                evidence["match"] = {
                    k: seen[k] for k in ("rule", "agree", "differ", "unknown", "id_distance") if k in seen
                }
        if r["other_person_id"] is not None:
            evidence["other_person_id"] = r["other_person_id"]
        if r["elderly_fen"] is not None:
            evidence["elderly_fen"] = r["elderly_fen"]
        new.append(
            Finding(
                run=run,
                kind=r["kind"],
                person_id=r["person_id"],
                town_id=r["town_id"],
                enrolment_id=r["enrolment_id"],
                row_id=r["row_id"],
                match_id=r["match_id"],
                evidence=evidence,
                money_at_stake_fen=r["money_at_stake_fen"],
                overpayment_fen=r["overpayment_fen"],
                effective_month=r["effective_month"],
            )
        )
    created: list[Finding] = []

    def write(part: list[Finding]) -> None:
        done = Finding.objects.bulk_create(part, batch_size=2000)
        audit_record_many(
            acting_user=acting_user,
            action="finding.create",
            entries=(
                {
                    "object_type": "verification.finding",
                    "object_id": f.pk or "",
                    "object_repr": f"{f.get_kind_display()} · 残疾人#{f.person_id}",
                    "changes": {"kind": [None, f.kind], "run": [None, run.pk], "status": [None, "open"]},
                }
                for f in done
            ),
        )
        created.extend(done)

    commit_slices(new, slice_rows or WRITE_SLICE, write)
    return created


def this_month() -> date:
    return timezone.localdate().replace(day=1)
