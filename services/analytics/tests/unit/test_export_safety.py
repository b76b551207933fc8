"""One citizen's title with a control character made every XLSX export fail with 500, for good."""
import io

from openpyxl import load_workbook

from analytics.export import to_csv, to_xlsx


def test_control_characters_are_removed_and_formulas_neutralised():
    rows = [{"title": "bad\x10title\x00", "n": 3}, {"title": "=HYPERLINK(\"x\")", "n": 1}]
    wb = load_workbook(io.BytesIO(to_xlsx({"ideas": rows})))
    values = [[c.value for c in row] for row in wb["ideas"].iter_rows()]
    assert values == [["title", "n"], ["badtitle", 3], ["'=HYPERLINK(\"x\")", 1]]
    text = to_csv(rows).decode("utf-8-sig")
    assert "\x10" not in text and "\x00" not in text and "'=HYPERLINK" in text
