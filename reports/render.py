"""A :class:`reports.document.Document` as HTML, PDF or XLSX.

- HTML: one self-contained file (the dashboard's stylesheet inlined, charts as inline SVG), so a
  downloaded report looks like the dashboard and opens on a machine with no network.
- PDF: A4 portrait, the vendored IPAexGothic embedded, so the Japanese is real text; charts are
  drawn as vector shapes.
- XLSX: a cover sheet, then one sheet per section; figures are numbers (people sum them in Excel)
  and charts are native Excel charts over the data written beside them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

from fpdf.enums import WrapMode, XPos, YPos
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from auditd import __version__
from auditd.dashboard.charts import bar_chart, heatmap
from auditd.fonts.pdf import GREY, JapanesePdf, Table, heading
from reports.document import Bars, Block, Document, Facts, Heatmap, Paragraph
from reports.document import Table as TableBlock

FORMATS = ("html", "pdf", "xlsx")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_CSS = Path(__file__).resolve().parents[1] / "auditd" / "dashboard" / "static" / "auditd.css"


def render(document: Document, fmt: str) -> bytes:
    """The document in ``fmt`` (html, pdf or xlsx)."""
    renderers: dict[str, Callable[[Document], bytes]] = {"html": to_html, "pdf": to_pdf, "xlsx": to_xlsx}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](document)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _show(value: Any) -> str:
    """A cell as people read it: figures with thousands separators."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    return _text(value)


# ---------------------------------------------------------------- HTML


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals["kind_of"] = lambda block: type(block).__name__.lower()
    env.globals["svg"] = _svg
    env.filters["cell"] = _show
    return env


def _svg(block: Bars | Heatmap) -> Markup:
    if isinstance(block, Heatmap):
        return heatmap(block.rows, block.columns, block.values, title=block.title)
    name, values = next(iter(block.series.items()))
    every = max(1, len(block.labels) // 24)
    return bar_chart(list(zip(block.labels, values, strict=True)), title=block.title or name, label_every=every)


def to_html(document: Document) -> bytes:
    template = _environment().get_template("report.html")
    css = Markup(_CSS.read_text(encoding="utf-8"))  # noqa: S704  (our own stylesheet)
    html = template.render(doc=document, css=css, version=__version__, generated=_local(document))
    return html.encode("utf-8")


def _local(document: Document) -> str:
    from zoneinfo import ZoneInfo

    return document.generated_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- PDF


class _ReportPdf(JapanesePdf):
    def __init__(self, document: Document) -> None:
        super().__init__(orientation="P", margin=15.0, body_pt=9.5)
        self.document = document

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(size=7)
        self.set_text_color(90, 90, 90)
        doc = self.document
        self.cell(0, 4, f"{doc.municipality_name} {doc.title} {doc.subtitle}", new_x=XPos.LMARGIN, new_y=YPos.TOP)
        self.cell(0, 4, f"{self.page_no()} / {{nb}} ページ", align="R")
        self.set_text_color(0, 0, 0)


def to_pdf(document: Document) -> bytes:
    pdf = _ReportPdf(document)
    pdf.set_creation_date(document.generated_at.astimezone(UTC))
    pdf.set_title(f"{document.title} {document.subtitle}".strip())
    pdf.set_author(document.generated_by)
    pdf.set_subject(f"{document.municipality_code} {document.period_label}")
    pdf.add_page()
    _pdf_cover(pdf, document)
    for number, section in enumerate(document.sections, start=1):
        heading(pdf, f"{number}. {section.title}", size=13)
        for block in section.blocks:
            _pdf_block(pdf, block)
    if document.sign_off:
        heading(pdf, "確認・承認", size=13)
        _pdf_sign_off(pdf, document.sign_off)
    return bytes(pdf.output())


def _pdf_cover(pdf: _ReportPdf, document: Document) -> None:
    pdf.set_font(size=20)
    pdf.multi_cell(0, 11, document.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.subtitle:
        pdf.set_font(size=13)
        pdf.multi_cell(0, 8, document.subtitle, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font(size=pdf.body_pt)
    _pdf_facts(
        pdf,
        Facts(
            [
                ("団体", f"{document.municipality_name}（{document.municipality_code}）"),
                ("対象期間", document.period_label),
                ("作成日時", _local(document) + "（日本時間）"),
                ("作成者", document.generated_by),
                ("作成システム", f"auditd {__version__}"),
            ]
        ),
    )


def _pdf_block(pdf: _ReportPdf, block: Block) -> None:
    if isinstance(block, Paragraph):
        pdf.multi_cell(0, 5, block.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
        pdf.ln(1.5)
        return
    if getattr(block, "title", ""):
        if pdf.will_page_break(18):
            pdf.add_page()
        pdf.set_font(size=10.5)
        pdf.cell(0, 6, block.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(size=pdf.body_pt)
    if isinstance(block, Facts):
        _pdf_facts(pdf, block)
    elif isinstance(block, TableBlock):
        _pdf_table(pdf, block)
    elif isinstance(block, Bars):
        _pdf_bars(pdf, block)
    elif isinstance(block, Heatmap):
        _pdf_heatmap(pdf, block)
    pdf.ln(2)


def _pdf_facts(pdf: _ReportPdf, block: Facts) -> None:
    """Label and value side by side; either wraps, and the row takes the taller of the two."""
    label_w, line = 52.0, 5.5
    value_w = pdf.epw - label_w
    for label, value in block.rows:
        lines = max(_lines(pdf, label, label_w), _lines(pdf, value, value_w))
        height = line * lines
        if pdf.will_page_break(height):
            pdf.add_page()
        x, y = pdf.l_margin, pdf.get_y()
        pdf.set_fill_color(*GREY)
        pdf.rect(x, y, label_w, height, style="DF")
        pdf.rect(x + label_w, y, value_w, height, style="D")
        pdf.set_xy(x, y)
        pdf.multi_cell(label_w, line, label, new_x=XPos.RIGHT, new_y=YPos.TOP, wrapmode=WrapMode.CHAR)
        pdf.set_xy(x + label_w, y)
        pdf.multi_cell(value_w, line, value, new_x=XPos.LMARGIN, new_y=YPos.TOP, wrapmode=WrapMode.CHAR)
        pdf.set_xy(x, y + height)


def _lines(pdf: _ReportPdf, text: str, width: float) -> int:
    found = pdf.multi_cell(width, 5.5, text, dry_run=True, output="LINES", wrapmode=WrapMode.CHAR)
    return max(1, len(found))  # type: ignore[arg-type]


def _pdf_table(pdf: _ReportPdf, block: TableBlock) -> None:
    if not block.rows:
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(0, 5, block.empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        return
    weights = list(block.widths) or [1.0] * len(block.headers)
    total = sum(weights)
    widths = [pdf.epw * w / total for w in weights]
    table = Table(pdf, list(block.headers), widths, size=7.5, right=block.numeric)
    table.draw([_show(cell) for cell in row] for row in block.rows)


_BAR = (31, 95, 168)


def _pdf_bars(pdf: _ReportPdf, block: Bars) -> None:
    height, label_h, left = 42.0, 5.0, 16.0
    if pdf.will_page_break(height + label_h + 4):
        pdf.add_page()
    x0, y0 = pdf.l_margin + left, pdf.get_y() + 2
    width = pdf.epw - left
    values = next(iter(block.series.values()), [])
    top = max(values, default=0) or 1.0
    pdf.set_font(size=6.5)
    pdf.set_draw_color(200, 200, 200)
    for fraction in (0.0, 0.5, 1.0):
        y = y0 + height * (1 - fraction)
        pdf.line(x0, y, x0 + width, y)
        pdf.text(pdf.l_margin, y + 1, _axis(top * fraction))
    step = width / max(1, len(values))
    every = max(1, len(values) // 24)
    pdf.set_fill_color(*_BAR)
    for i, (label, value) in enumerate(zip(block.labels, values, strict=True)):
        bar = height * value / top
        x = x0 + i * step + step * 0.1
        if bar > 0:
            pdf.rect(x, y0 + height - bar, step * 0.8, bar, style="F")
        if i % every == 0:
            pdf.text(x, y0 + height + 3.5, label)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_font(size=pdf.body_pt)
    pdf.set_y(y0 + height + label_h)


def _axis(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value.is_integer() else f"{value:.1f}"


def _pdf_heatmap(pdf: _ReportPdf, block: Heatmap) -> None:
    left = 12.0
    cell = min(7.0, (pdf.epw - left) / max(1, len(block.columns)))
    if pdf.will_page_break(cell * (len(block.rows) + 1) + 4):
        pdf.add_page()
    x0, y0 = pdf.l_margin + left, pdf.get_y() + 4
    top = max((max(line) for line in block.values if line), default=0.0) or 1.0
    pdf.set_font(size=6)
    for j, column in enumerate(block.columns):
        pdf.text(x0 + j * cell + 1, y0 - 1, column)
    pdf.set_draw_color(220, 220, 220)
    for i, row in enumerate(block.rows):
        pdf.text(pdf.l_margin, y0 + i * cell + cell * 0.65, row)
        for j, value in enumerate(block.values[i]):
            share = value / top
            shade = tuple(int(255 - (255 - c) * share) for c in _BAR)
            pdf.set_fill_color(*shade)
            pdf.rect(x0 + j * cell, y0 + i * cell, cell, cell, style="DF")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_font(size=pdf.body_pt)
    pdf.set_y(y0 + cell * len(block.rows) + 2)


def _pdf_sign_off(pdf: _ReportPdf, roles: list[str]) -> None:
    width = pdf.epw / len(roles)
    if pdf.will_page_break(36):
        pdf.add_page()
    y = pdf.get_y()
    for i, role in enumerate(roles):
        x = pdf.l_margin + i * width
        pdf.set_fill_color(*GREY)
        pdf.rect(x, y, width, 7, style="DF")
        pdf.text(x + 2, y + 5, role)
        pdf.rect(x, y + 7, width, 22)
        pdf.set_font(size=7)
        pdf.text(x + 2, y + 12, "氏名")
        pdf.text(x + 2, y + 27, "日付　　　年　　月　　日")
        pdf.set_font(size=pdf.body_pt)
    pdf.set_y(y + 32)


# ---------------------------------------------------------------- XLSX

_BOLD = Font(bold=True)
_HEAD = PatternFill("solid", start_color="E1E1E1")
_THIN = Border(*(Side(style="thin", color="BBBBBB"),) * 4)


def _sheet_name(title: str, taken: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "", title)[:28] or "sheet"
    base, n = name, 2
    while name in taken:
        name = f"{base[:25]}({n})"
        n += 1
    taken.add(name)
    return name


def to_xlsx(document: Document) -> bytes:
    book = Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "表紙"
    taken = {"表紙"}
    cover["A1"] = document.title
    cover["A1"].font = Font(bold=True, size=16)
    cover["A2"] = document.subtitle
    row = _xlsx_facts(
        cover,
        4,
        Facts(
            [
                ("団体", f"{document.municipality_name}（{document.municipality_code}）"),
                ("対象期間", document.period_label),
                ("作成日時", _local(document) + "（日本時間）"),
                ("作成者", document.generated_by),
                ("作成システム", f"auditd {__version__}"),
            ]
        ),
    )
    row += 1
    cover.cell(row=row, column=1, value="目次").font = _BOLD
    for number, section in enumerate(document.sections, start=1):
        row += 1
        cover.cell(row=row, column=1, value=f"{number}. {section.title}")
    if document.sign_off:
        row += 2
        cover.cell(row=row, column=1, value="確認・承認").font = _BOLD
        for i, role in enumerate(document.sign_off):
            head = cover.cell(row=row + 1, column=1 + i, value=role)
            head.fill, head.border = _HEAD, _THIN
            for offset, text in ((2, "氏名："), (3, "日付：")):
                cover.cell(row=row + offset, column=1 + i, value=text).border = _THIN
    cover.column_dimensions["A"].width = 28
    for column in "BCD":
        cover.column_dimensions[column].width = 28

    for number, section in enumerate(document.sections, start=1):
        sheet = book.create_sheet(_sheet_name(f"{number}.{section.title}", taken))
        sheet["A1"] = f"{number}. {section.title}"
        sheet["A1"].font = Font(bold=True, size=13)
        row = 3
        for block in section.blocks:
            row = _xlsx_block(sheet, row, block) + 1
        for index in range(1, (sheet.max_column or 1) + 1):
            letter = get_column_letter(index)
            if sheet.column_dimensions[letter].width in (None, 13.0):
                sheet.column_dimensions[letter].width = 16
        sheet.column_dimensions["A"].width = 30
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_block(sheet: Worksheet, row: int, block: Block) -> int:
    """Write ``block`` from ``row``; returns the next free row."""
    if isinstance(block, Paragraph):
        cell = sheet.cell(row=row, column=1, value=block.text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=8)
        sheet.row_dimensions[row].height = 15 * max(1, len(block.text) // 60 + block.text.count("\n") + 1)
        return row + 1
    if getattr(block, "title", ""):
        sheet.cell(row=row, column=1, value=block.title).font = _BOLD
        row += 1
    if isinstance(block, Facts):
        return _xlsx_facts(sheet, row, block)
    if isinstance(block, TableBlock):
        return _xlsx_table(sheet, row, block.headers, block.rows, block.numeric, block.empty)
    if isinstance(block, Bars):
        names = list(block.series)
        rows = [[label, *(block.series[n][i] for n in names)] for i, label in enumerate(block.labels)]
        end = _xlsx_table(sheet, row, ["", *names], rows, tuple(range(1, len(names) + 1)), "")
        if rows:
            chart = BarChart()
            chart.title = block.title
            chart.y_axis.title = block.unit
            chart.legend = None if len(names) == 1 else chart.legend
            data = Reference(sheet, min_col=2, max_col=1 + len(names), min_row=row, max_row=row + len(rows))
            labels = Reference(sheet, min_col=1, min_row=row + 1, max_row=row + len(rows))
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(labels)
            chart.width, chart.height = 22, 8
            sheet.add_chart(chart, f"{get_column_letter(len(names) + 3)}{row}")
            end = max(end, row + 17)
        return end
    assert isinstance(block, Heatmap)
    rows = [[label, *block.values[i]] for i, label in enumerate(block.rows)]
    end = _xlsx_table(sheet, row, ["", *block.columns], rows, tuple(range(1, len(block.columns) + 1)), "")
    if rows:
        first = f"B{row + 1}"
        last = f"{get_column_letter(len(block.columns) + 1)}{row + len(rows)}"
        sheet.conditional_formatting.add(
            f"{first}:{last}",
            ColorScaleRule(start_type="min", start_color="FFFFFF", end_type="max", end_color="1F5FA8"),  # type: ignore[no-untyped-call]
        )
        for index in range(2, len(block.columns) + 2):
            sheet.column_dimensions[get_column_letter(index)].width = 6
    return end


def _xlsx_facts(sheet: Worksheet, row: int, block: Facts) -> int:
    for label, value in block.rows:
        head = sheet.cell(row=row, column=1, value=label)
        head.fill, head.border, head.font = _HEAD, _THIN, _BOLD
        cell = sheet.cell(row=row, column=2, value=value)
        cell.border = _THIN
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
    sheet.column_dimensions["B"].width = max(sheet.column_dimensions["B"].width or 0, 48)
    return row


def _xlsx_table(
    sheet: Worksheet, row: int, headers: list[str], rows: list[list[Any]], numeric: tuple[int, ...], empty: str
) -> int:
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=column, value=header)
        cell.fill, cell.border, cell.font = _HEAD, _THIN, _BOLD
    if not rows and empty:
        sheet.cell(row=row + 1, column=1, value=empty)
        return row + 2
    for offset, values in enumerate(rows, start=1):
        for column, value in enumerate(values, start=1):
            number = column - 1 in numeric and isinstance(value, int | float)
            cell = sheet.cell(row=row + offset, column=column, value=value if number else _text(value))
            cell.border = _THIN
            if number:
                cell.number_format = "#,##0.0" if isinstance(value, float) and not value.is_integer() else "#,##0"
    return row + len(rows) + 1
