import csv
import io

import bridge_samples as sample
from backoffice_bridge.renderers.csvfile import CSV_COLUMNS, render_csv
from backoffice_bridge.schemas import load_decision


csv.field_size_limit(1 << 30)  # the very long texts exceed csv's default 128 KiB cell limit


def rows(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_header_is_the_documented_stable_column_list():
    text = render_csv(load_decision(sample.FULL))
    assert text.split("\r\n")[0] == ",".join(CSV_COLUMNS)
    assert CSV_COLUMNS[:5] == ("decision_id", "tenant", "kind", "outcome", "status")


def test_one_row_per_subject_with_amounts():
    out = rows(render_csv(load_decision(sample.BUDGET)))
    assert [(r["subject_id"], r["amount"], r["currency"]) for r in out] == [("p-1", "12500.00", "EUR"),
                                                                          ("p-2", "800", "EUR")]
    assert {r["status"] for r in out} == {"accepted"}
    assert {r["votes_for"] for r in out} == {""}
    assert {r["session_id"] for r in out} == {""}


def test_votes_and_dates():
    (row,) = rows(render_csv(load_decision(sample.FULL)))
    assert (row["votes_for"], row["votes_against"], row["votes_abstain"], row["votes_secret"]) == ("7", "2", "1",
                                                                                                  "false")
    assert (row["decided_on"], row["published_on"], row["session_id"]) == ("2024-03-04", "2024-03-06",
                                                                           "zitting-2024-03-04")


def test_hostile_and_long_texts_round_trip_exactly():
    data = sample.nasty(long=True)
    (row,) = rows(render_csv(load_decision(data), escape_formulas=False))
    assert row["title"] == data["title"] and row["motivation"] == data["motivation"]
    assert row["decided_by_name"] == sample.NASTY and row["subject_title"] == sample.NASTY


def test_utf8_bytes_and_optional_bom():
    text = render_csv(load_decision(sample.nasty()), bom=True)
    assert text.startswith("\ufeff") and "🚲" in text
    text.encode("utf-8")  # encodable: no lone surrogates got through


def test_formula_cells_are_neutralised_by_default():
    d = load_decision(sample.full(title="=HYPERLINK(\"http://evil\")", motivation="-1+1"))
    (row,) = rows(render_csv(d))
    assert row["title"] == "'=HYPERLINK(\"http://evil\")" and row["motivation"] == "'-1+1"
    (raw,) = rows(render_csv(d, escape_formulas=False))
    assert raw["title"] == "=HYPERLINK(\"http://evil\")"


def test_excel_variant_has_bom_semicolons_and_a_decimal_comma():
    import csv as _csv
    import io as _io
    from backoffice_bridge.renderers import render
    out = render(load_decision(sample.BUDGET), "csv", excel=True)
    assert out.startswith("\ufeff") and out.splitlines()[0].count(";") == len(CSV_COLUMNS) - 1
    rows = list(_csv.DictReader(_io.StringIO(out[1:]), delimiter=";"))
    amount = next(r["amount"] for r in rows if r["amount"])
    assert "," in amount and "." not in amount
    plain = list(_csv.DictReader(_io.StringIO(render(load_decision(sample.BUDGET), "csv"))))
    assert [r["amount"].replace(".", ",") for r in plain] == [r["amount"] for r in rows]
