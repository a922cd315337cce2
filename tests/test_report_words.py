"""The program report speaks words: cohort sizes on the repeat chart, slice labels in words, partial months marked.

The charts read the session's published copy (conftest.nightly_warehouse) and every figure expected is read from its
marts; an edge the generated data lacks (a cohort with fewer repeat partners than partners, a cohort of none, coverage
and a drafted payout period in the month the data ends in, a month that ended) is written on a copy of that file by
changing rows of its real tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from published_copy import as_of, copy_of, draft_of_next_period, query

from cosell.config import Settings
from cosell.publish.report import (
    coverage_chart,
    payout_chart,
    repeat_chart,
    roe_chart,
    uplift_chart,
    words,
    write_report,
)


@pytest.fixture
def published(nightly_warehouse: Settings) -> Path:
    return nightly_warehouse.published


def chart(path: Path, build):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return build(con)
    finally:
        con.close()


def cohort_texts(path: Path) -> dict[str, list[str]]:
    """'repeat partners of partners' per partner type, cohorts in month order, of the cohorts that have partners."""
    texts: dict[str, list[str]] = defaultdict(list)
    for partner_type, _, repeat, partners in query(path, """
            SELECT partner_type, first_support_month, sum(repeat_partners), sum(supported_partners)
            FROM marts.mart_repeat_request_rate GROUP BY ALL HAVING sum(supported_partners) > 0 ORDER BY 2, 1"""):
        texts[partner_type].append(f"{repeat} of {partners}")
    return dict(texts)


def month_of(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def test_repeat_bars_carry_their_cohort_sizes(published: Path, tmp_path: Path):
    # the generated cohorts all repeated; on a copy: one partner more in each cohort that did not repeat, and a
    # partner type with a cohort of none (left out, not divided by zero)
    edged = copy_of(published, tmp_path / "cohorts.duckdb",
                    "UPDATE marts.mart_repeat_request_rate SET supported_partners = supported_partners + 1, "
                    "repeat_rate = repeat_partners / (supported_partners + 1)",
                    "INSERT INTO marts.mart_repeat_request_rate SELECT max(first_support_month), 'NO_COHORT_TYPE', "
                    "0, 0, NULL FROM marts.mart_repeat_request_rate")
    for path in (published, edged):
        figure, note = chart(path, repeat_chart)
        assert note is None
        bars = {trace.name: list(trace.text) for trace in figure.data}
        assert bars == cohort_texts(path) and bars, path.name
    assert "NO_COHORT_TYPE" not in bars
    assert all(text.split(" of ")[0] != text.split(" of ")[1] for texts in bars.values() for text in texts)


def test_uplift_slices_are_labelled_in_words(published: Path):
    figure, _ = chart(published, uplift_chart)
    labels = list(figure.data[0].y)
    rows = query(published, "SELECT slice_type, slice_value, matched_treated_deals, treated_deals "
                            "FROM marts.mart_cosell_uplift")
    assert len(labels) == len(rows)
    (matched, treated), = [(m, n) for slice_type, _, m, n in rows if slice_type == "OVERALL"]
    assert f"All closed deals (matched {matched} of {treated} treated)" in labels
    for slice_type, in_words in (("RESOURCE_TYPE", "Resource type"), ("PARTNER_TIER", "Partner tier")):
        values = [(v, m, n) for t, v, m, n in rows if t == slice_type]
        assert values, slice_type
        for value, matched, treated in values:
            assert f"{in_words}: {value.replace('_', ' ').capitalize()} (matched {matched} of {treated} treated)" \
                in labels
    assert not [label for label in labels if "_" in label or "OVERALL" in label]


def test_enum_words():
    assert words("UNBRIEFED_CUSTOMER_CONTACT") == "Unbriefed customer contact"
    assert words("DIRECT_PIPELINE_AFTER_COSELL") == "Direct pipeline after co-sell"
    assert words("VAR") == "VAR" and words("EXECUTIVE_SPONSOR") == "Executive sponsor"


def test_a_month_not_ended_by_as_of_date_is_marked_partial(published: Path, tmp_path: Path):
    day = as_of(published)
    assert (day + dt.timedelta(days=1)).month == day.month, f"the session's data should end mid-month, not {day}"
    month = month_of(day)
    (period,), = query(published, "SELECT DISTINCT period FROM payouts.lines")
    assert query(published, f"SELECT count(*) FROM marts.mart_roe_violations "
                            f"WHERE strftime(occurred_at, '%Y-%m') = '{month}'")[0][0], "no violation in the last month"
    # on a copy: deals registered in the month the data ends in (the latest month's rows again) and its payout drafted
    edged = copy_of(published, tmp_path / "mid_month.duckdb",
                    f"INSERT INTO marts.mart_cosell_coverage SELECT * REPLACE (DATE '{day.replace(day=1)}' "
                    "AS registered_month) FROM marts.mart_cosell_coverage "
                    "WHERE registered_month = (SELECT max(registered_month) FROM marts.mart_cosell_coverage)",
                    draft_of_next_period(period, month))
    marked = f"{month} (partial: data to {day.isoformat()})"
    for build in (coverage_chart, roe_chart):
        ticks = list(chart(edged, build)[0].layout.xaxis.ticktext)
        assert marked in ticks, build.__name__
        assert len(ticks) > 1 and [t for t in ticks if "partial" in t] == [marked], build.__name__
    ticks = list(chart(edged, payout_chart)[0].layout.xaxis.ticktext)
    assert ticks == [period, f"{month} (draft) (partial)"]


def test_a_month_that_ended_is_not_marked(published: Path, tmp_path: Path):
    ended = copy_of(published, tmp_path / "month_end.duckdb",
                    "UPDATE marts.warehouse_as_of SET as_of_date = last_day(as_of_date)",
                    "UPDATE meta.publication SET as_of_date = last_day(as_of_date)")
    assert not chart(ended, coverage_chart)[0].layout.xaxis.ticktext
    roe = chart(ended, roe_chart)[0]
    assert not roe.layout.xaxis.ticktext
    assert not [t for t in chart(ended, payout_chart)[0].layout.xaxis.ticktext if "partial" in t]
    violations = {words(v) for (v,) in query(ended, "SELECT DISTINCT violation_type FROM marts.mart_roe_violations")}
    assert {trace.name for trace in roe.data} == violations and len(violations) > 1
    assert not [trace.name for trace in roe.data if "_" in trace.name]


def test_the_page_carries_the_words(settings: Settings, published: Path):
    page = write_report(settings, published).path.read_text(encoding="utf-8")
    assert f"partial: data to {as_of(published).isoformat()}" in page  # the session's data ends mid-month
    (resource_type,), = query(published, "SELECT min(slice_value) FROM marts.mart_cosell_uplift "
                                         "WHERE slice_type = 'RESOURCE_TYPE'")
    assert f"Resource type: {resource_type.replace('_', ' ').capitalize()}" in page
    for texts in cohort_texts(published).values():
        for text in texts:
            assert f'"{text}"' in page  # a bar's text in the figure's JSON
