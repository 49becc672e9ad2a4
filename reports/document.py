"""What a report is, independent of its format.

A builder (annual, monthly, disclosure …) computes its figures from the store and returns a
:class:`Document`: sections holding facts, tables, charts and paragraphs. The renderers
(:mod:`reports.render`) turn the same document into HTML, PDF and XLSX, so the three formats always
say the same thing and a new report needs no rendering code of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

#: The result of one inspection item (自己点検の結果).
DONE, PARTLY, NOT_DONE, NOT_APPLICABLE = "実施済", "一部", "未実施", "該当なし"


@dataclass(frozen=True)
class Facts:
    """Label → value pairs, shown as a two-column table."""

    rows: list[tuple[str, str]]
    title: str = ""


@dataclass(frozen=True)
class Table:
    """A table of rows. ``numeric`` names the columns holding figures (aligned right, numbers in XLSX);
    ``widths`` are relative column widths for the PDF (equal when empty)."""

    headers: list[str]
    rows: list[list[Any]]
    title: str = ""
    numeric: tuple[int, ...] = ()
    widths: tuple[float, ...] = ()
    empty: str = "該当なし"


@dataclass(frozen=True)
class Bars:
    """A bar chart: one bar per label, one series (several series are drawn side by side)."""

    title: str
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = "件"


@dataclass(frozen=True)
class Heatmap:
    """A grid of counts, e.g. day of week × hour."""

    title: str
    rows: list[str]
    columns: list[str]
    values: list[list[float]]


@dataclass(frozen=True)
class Paragraph:
    text: str


Block = Facts | Table | Bars | Heatmap | Paragraph


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass
class Document:
    """One report: what it is, for which body and period, its sections, and who must sign it."""

    kind: str  # annual | monthly | disclosure
    title: str
    municipality_code: str
    municipality_name: str
    period_start: date
    period_end: date  # inclusive
    generated_at: datetime
    generated_by: str
    sections: list[Section] = field(default_factory=list)
    #: Sign-off lines (role names), drawn as boxes for a name, a seal and a date.
    sign_off: list[str] = field(default_factory=list)
    #: Shown under the title, e.g. 「令和7年度」.
    subtitle: str = ""
    #: What the platform's trail records about this report besides kind, period and format (e.g. the
    #: pseudonym a disclosure searched for). Never a resident's identifier in clear.
    trail_detail: dict[str, Any] = field(default_factory=dict)

    def section(self, title: str) -> Section:
        found = Section(title)
        self.sections.append(found)
        return found

    @property
    def period_label(self) -> str:
        return f"{self.period_start:%Y年%m月%d日} 〜 {self.period_end:%Y年%m月%d日}"


def figure(value: float | int | None, unit: str = "") -> str:
    """A figure as people write it: thousands separated, '—' where there is none."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}{unit}"
    return f"{int(value):,}{unit}"


def percent(part: float, whole: float) -> str:
    """A share in percent with one decimal, '—' where the whole is zero."""
    return f"{100.0 * part / whole:.1f}%" if whole else "—"
