"""Fonts shipped with auditd (the networks it runs in are closed: nothing is fetched at run time).

:data:`JAPANESE_FONT` is IPAexGothic (IPAexゴシック), used wherever auditd draws Japanese text into a
file of its own (the PDF evidence of a case). Its licence is :data:`JAPANESE_FONT_LICENSE`, which must
travel with it; see ``README.md`` beside this file for where it came from.
"""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent
#: IPAexGothic 00401 (IPA Font License v1.0).
JAPANESE_FONT = FONT_DIR / "ipaexg.ttf"
JAPANESE_FONT_LICENSE = FONT_DIR / "IPA_Font_License_Agreement_v1.0.txt"
#: The family name under which the font is registered with the PDF writer, and the name a PDF shows.
JAPANESE_FONT_NAME = "IPAexGothic"
