"""Screenshot of the plan workbook for the README: Phú Thái exported, opened by LibreOffice, saved as PNG.

    .venv/bin/python scripts/workbook_screenshot.py [--out docs/img/workbook-phu-thai.png]

The picture is the first printed page of the duties sheet ("Nhiệm vụ"), landscape: the appendix's own columns
and the main machine columns (the long prose and provenance columns are hidden in the copy that is printed,
not in the workbook the command writes).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl.worksheet.page import PageMargins  # noqa: E402
from openpyxl.worksheet.properties import PageSetupProperties  # noqa: E402

from cchc.core.loader import load_plan  # noqa: E402
from cchc.io.workbook import DUTIES, export_workbook, fit_row_heights  # noqa: E402

SHOWN = set("ABCDEF") | {"J", "K", "L", "N", "O"}  # the appendix, then id, kind, cadence, evidence, count
COLUMNS = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V",
    "W", "X", "Y", "Z", "AA",
]  # fmt: skip


def screenshot(plan_path: Path, out: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    pdftoppm = shutil.which("pdftoppm")
    if soffice is None or pdftoppm is None:
        raise SystemExit("needs LibreOffice Calc and pdftoppm: apt-get install libreoffice-calc-nogui poppler-utils")
    wb = export_workbook(load_plan(plan_path))
    ws = wb[DUTIES.title]
    for letter in COLUMNS:
        ws.column_dimensions[letter].hidden = letter not in SHOWN
    fit_row_heights(ws, SHOWN)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins = PageMargins(left=0.3, right=0.3, top=0.3, bottom=0.3)
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / f"{out.stem}.xlsx"
        wb.save(book)
        # A private profile: never touch (or wait on) a LibreOffice the user has open. Calc's own PNG filter
        # fails headless on some builds, so print to PDF and rasterise its first page with pdftoppm.
        profile = Path(tmp) / "profile"
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                tmp,
                str(book),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pdf = book.with_suffix(".pdf")
        if not pdf.is_file():
            raise SystemExit(f"LibreOffice wrote no PDF for {book} (is libreoffice-calc installed?)")
        subprocess.run(
            [pdftoppm, "-png", "-r", "130", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(out.with_suffix(""))],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, default=ROOT / "plan_specs" / "phu-thai-2025h2.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "workbook-phu-thai.png")
    args = parser.parse_args()
    print(screenshot(args.plan, args.out))


if __name__ == "__main__":
    main()
