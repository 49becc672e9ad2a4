"""PDF building blocks shared by every document auditd writes (case evidence, reports).

fpdf2 with the vendored IPAexGothic, so Japanese text is real text in the file (searchable, copyable),
drawn from a font that ships with the product.
"""

from __future__ import annotations

from collections.abc import Iterable

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from auditd.fonts import JAPANESE_FONT, JAPANESE_FONT_NAME

GREY = (225, 225, 225)
BODY_PT = 9.0
TABLE_PT = 6.5


class JapanesePdf(FPDF):
    """A4 with the Japanese font registered and selected."""

    def __init__(self, orientation: str = "P", margin: float = 10.0, body_pt: float = BODY_PT) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.body_pt = body_pt
        self.set_margins(margin, margin, margin)
        self.set_auto_page_break(auto=True, margin=16)
        self.add_font(JAPANESE_FONT_NAME, fname=str(JAPANESE_FONT))
        self.set_font(JAPANESE_FONT_NAME, size=body_pt)
        self.set_lang("ja")
        self.set_creator("auditd")


class Table:
    """A table drawn directly: thousands of rows through ``FPDF.table`` (a ``multi_cell`` per cell,
    measured twice) take seconds per thousand, most cells fit on one line, and Japanese text has no
    spaces to break at anyway. Cells wrap at any character; the header is repeated on every page; a row
    is never split across pages. ``right`` names the columns aligned right (figures)."""

    def __init__(
        self,
        pdf: JapanesePdf,
        headers: list[str],
        widths: list[float],
        *,
        size: float = TABLE_PT,
        right: Iterable[int] = (),
    ) -> None:
        self.pdf, self.headers, self.widths, self.size = pdf, headers, widths, size
        self.right = set(right)
        self.line = size * 25.4 / 72 * 1.25  # mm
        self.pad = 0.7
        self.ascent = size * 25.4 / 72 * 0.88
        self._widths: dict[str, float] = {}

    def _width(self, char: str) -> float:
        found = self._widths.get(char)
        if found is None:
            found = self._widths[char] = self.pdf.get_string_width(char)
        return found

    def _wrap(self, text: str, room: float) -> list[str]:
        lines: list[str] = []
        for paragraph in text.split("\n"):
            current, used = "", 0.0
            for char in paragraph:
                width = self._width(char)
                if current and used + width > room:
                    lines.append(current)
                    current, used = "", 0.0
                current += char
                used += width
            lines.append(current)
        return lines

    def _row(self, cells: list[str], *, fill: bool) -> None:
        pdf = self.pdf
        wrapped = [self._wrap(text, width - 2 * self.pad) for text, width in zip(cells, self.widths, strict=True)]
        height = max(len(lines) for lines in wrapped) * self.line + 2 * self.pad
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            pdf.set_font(size=self.size)
            if not fill:
                self._row(self.headers, fill=True)
        x, y = pdf.l_margin, pdf.get_y()
        for column, (lines, width) in enumerate(zip(wrapped, self.widths, strict=True)):
            pdf.rect(x, y, width, height, style="DF" if fill else "D")
            for number, line in enumerate(lines):
                if not line:
                    continue
                left = x + self.pad
                if column in self.right and not fill:
                    left = x + width - self.pad - sum(self._width(c) for c in line)
                pdf.text(left, y + self.pad + number * self.line + self.ascent, line)
            x += width
        pdf.set_y(y + height)

    def draw(self, rows: Iterable[list[str]]) -> None:
        self.pdf.set_font(size=self.size)
        self.pdf.set_fill_color(*GREY)
        self.pdf.set_line_width(0.15)
        self._row(self.headers, fill=True)
        for cells in rows:
            self._row(cells, fill=False)
        self.pdf.set_font(size=self.pdf.body_pt)
        self.pdf.set_line_width(0.2)


def heading(pdf: JapanesePdf, text: str, size: float = 12) -> None:
    """A section heading with a rule under it, never left alone at the foot of a page."""
    if pdf.will_page_break(30):
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(size=size)
    pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(120, 120, 120)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(1.5)
    pdf.set_font(size=pdf.body_pt)
