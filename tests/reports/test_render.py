"""The three formats of one document: the same content, Japanese as real text drawn from the vendored
font (checked on the rendered page, not only in the text layer), figures as numbers in Excel."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import numpy as np
import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from reports.document import Bars, Document, Facts, Heatmap, Paragraph, Table
from reports.render import render, to_html, to_pdf, to_xlsx

HEADINGS = ("自己点検結果報告書", "技術的安全管理措置", "二要素認証の適用")


def _document() -> Document:
    doc = Document(
        kind="annual",
        title="自己点検結果報告書",
        subtitle="令和7年度",
        municipality_code="999991",
        municipality_name="試験市",
        period_start=date(2025, 4, 1),
        period_end=date(2026, 3, 31),
        generated_at=datetime(2026, 4, 10, 1, 0, tzinfo=UTC),
        generated_by="officer1",
        sign_off=["点検者", "保護責任者"],
    )
    doc.section("概要").add(
        Facts([("記録された操作", "1,234,567 件"), ("事案", "3 件")]),
        Paragraph("主な所見: 税務システムの記録が開庁日 2 日欠測。"),
    )
    doc.section("技術的安全管理措置").add(
        Table(
            ["システム", "ログイン", "二要素", "割合"],
            [["税務", 12000, 11950, "99.6%"], ["福祉 <script>", 800, 800, "100.0%"]],
            title="識別と認証（二要素認証の適用）",
            numeric=(1, 2),
        ),
        Table(["規則", "件数"], [], title="ポリシー違反", empty="違反はありません。"),
        Bars("アラートの月別推移", ["2025-04", "2025-05", "2025-06"], {"アラート": [3.0, 0.0, 7.0]}),
        Heatmap("曜日・時間帯別", ["月", "火"], ["8", "9"], [[10.0, 20.0], [0.0, 5.0]]),
    )
    return doc


def test_html_is_self_contained_escaped_and_complete():
    html = to_html(_document()).decode("utf-8")
    for heading in HEADINGS:
        assert heading in html
    assert "<link" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "svg.chart" in html  # the dashboard's stylesheet, inlined
    assert "福祉 &lt;script&gt;" in html and "<script>" not in html
    assert '<td class="num">12,000</td>' in html
    assert "違反はありません。" in html
    assert html.count("<svg") == 2  # the bar chart and the heatmap
    assert "2026-04-10 10:00（日本時間）" in html
    assert "点検者" in html and "保護責任者" in html


def test_xlsx_keeps_figures_as_numbers_with_a_native_chart():
    book = load_workbook(io.BytesIO(to_xlsx(_document())))
    assert book.sheetnames == ["表紙", "1.概要", "2.技術的安全管理措置"]
    cover = [c for row in book["表紙"].iter_rows(values_only=True) for c in row if c]
    assert "自己点検結果報告書" in cover and "点検者" in cover and "1. 概要" in cover
    sheet = book["2.技術的安全管理措置"]
    values = {(c.value, c.data_type) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert (12000, "n") in values and (11950, "n") in values
    assert ("99.6%", "s") in values
    assert len(sheet._charts) == 1  # openpyxl keeps charts there
    assert sheet.conditional_formatting  # the heatmap's colour scale


def _glyph(page: pdfium.PdfPage, bitmap: np.ndarray, textpage: pdfium.PdfTextPage, index: int) -> np.ndarray:
    left, bottom, right, top = textpage.get_charbox(index)
    scale = bitmap.shape[1] / page.get_width()
    height = bitmap.shape[0]
    x0, x1 = int(left * scale), int(np.ceil(right * scale))
    y0, y1 = int(height - top * scale), int(np.ceil(height - bottom * scale))
    return bitmap[y0:y1, x0:x1]


def test_pdf_headings_are_japanese_text_drawn_with_real_glyphs(tmp_path):
    pdf = to_pdf(_document())
    assert pdf.startswith(b"%PDF-")
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    textpage = page.get_textpage()
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    flat = text.replace("\r", "").replace("\n", "")
    for heading in HEADINGS:
        assert heading in flat
    assert "12,000" in flat and "違反はありません。" in flat and "1 / 1 ページ" in flat

    # Rendered, each distinct character of the title is a distinct, inked shape: tofu (the missing-glyph
    # box) would draw every character the same.
    image = page.render(scale=4).to_pil().convert("L")
    image.save(tmp_path / "page1.png")
    bitmap = np.asarray(image)
    title = "自己点検結果報告書"
    start = textpage.get_text_range().index(title)
    shapes = {}
    for offset, char in enumerate(title):
        glyph = _glyph(page, bitmap, textpage, start + offset)
        assert glyph.size and (glyph < 128).sum() > 20, f"{char} is not drawn"
        shapes[char] = (glyph < 128).astype(np.uint8)
    distinct = set(shapes)
    signatures = {char: shape.tobytes() + bytes(shape.shape) for char, shape in shapes.items()}
    assert len(set(signatures.values())) == len(distinct)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="html, pdf, xlsx"):
        render(_document(), "docx")
