"""The program report speaks words: cohort sizes on the repeat chart, slice labels in words, partial months marked."""

from __future__ import annotations

import duckdb
from test_report import MARTS_SQL, build_published

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

MID_JUNE = MARTS_SQL.replace("DATE '2025-06-30'", "DATE '2025-06-15'")


def open_published(settings: Settings, sql: str = MARTS_SQL) -> duckdb.DuckDBPyConnection:
    build_published(settings.published, sql=sql)
    return duckdb.connect(str(settings.published), read_only=True)


def test_repeat_bars_carry_their_cohort_sizes(settings: Settings):
    con = open_published(settings)
    figure, note = repeat_chart(con)
    con.close()
    assert note is None
    bars = {trace.name: list(trace.text) for trace in figure.data}
    assert bars == {"ISV": ["1 of 2"], "SI": ["3 of 3"], "VAR": ["3 of 4", "2 of 5"]}


def test_uplift_slices_are_labelled_in_words(settings: Settings):
    con = open_published(settings)
    figure, _ = uplift_chart(con)
    con.close()
    labels = list(figure.data[0].y)
    assert "All closed deals (matched 31 of 40 treated)" in labels
    assert "Resource type: Solution architect (matched 20 of 25 treated)" in labels
    assert "Partner tier: Gold (matched 15 of 22 treated)" in labels
    assert not [label for label in labels if "_" in label or "OVERALL" in label]


def test_enum_words():
    assert words("UNBRIEFED_CUSTOMER_CONTACT") == "Unbriefed customer contact"
    assert words("VAR") == "VAR" and words("EXECUTIVE_SPONSOR") == "Executive sponsor"


def test_a_month_not_ended_by_as_of_date_is_marked_partial(settings: Settings):
    con = open_published(settings, MID_JUNE)
    try:
        for chart in (coverage_chart, roe_chart):
            axis = chart(con)[0].layout.xaxis
            assert "2025-06 (partial: data to 2025-06-15)" in axis.ticktext, chart.__name__
            assert "2025-05" in axis.ticktext
        assert "2025-06 (draft) (partial)" in payout_chart(con)[0].layout.xaxis.ticktext
    finally:
        con.close()


def test_a_month_that_ended_is_not_marked(settings: Settings):
    con = open_published(settings)  # as of 2025-06-30: June is complete
    try:
        assert not coverage_chart(con)[0].layout.xaxis.ticktext
        roe = roe_chart(con)[0]
        assert {trace.name for trace in roe.data} == {"Unbriefed customer contact", "Technical role negotiation",
                                                     "Off plan contact", "Direct pipeline after co-sell"}
    finally:
        con.close()


def test_the_page_carries_the_words(settings: Settings):
    build_published(settings.published, sql=MID_JUNE)
    page = write_report(settings).path.read_text(encoding="utf-8")
    assert "partial: data to 2025-06-15" in page and "Resource type: Solution architect" in page
    assert "3 of 4" in page
