"""The scripts that build the Word templates still build exactly the templates the app ships.

Both scripts share scripts/_docx_template.py; a change there must not move a tag, a font or a width in either
document. Compared part by part (the XML inside the .docx), since the zip's own timestamps differ per run.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "cchc" / "app" / "report_templates"


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


@pytest.mark.parametrize(
    ("script", "shipped"),
    [("make_report_template.py", "bao-cao.docx"), ("make_province_template.py", "bao-cao-tinh.docx")],
)
def test_script_rebuilds_the_shipped_template(tmp_path: Path, script: str, shipped: str) -> None:
    out = tmp_path / shipped
    # Run as a user would (python scripts/X.py), with build() writing into tmp_path instead of the repo.
    code = (
        "import sys, runpy; sys.path.insert(0, sys.argv[1]); "
        "m = runpy.run_path(sys.argv[2]); m['build']().save(sys.argv[3])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "scripts"), str(ROOT / "scripts" / script), str(out)],
        check=True,
        cwd=tmp_path,
    )
    built, expected = _parts(out), _parts(TEMPLATES / shipped)
    assert sorted(built) == sorted(expected)
    changed = [name for name in expected if built[name] != expected[name]]
    assert changed == [], f"{script} no longer builds {shipped}: parts {changed} differ"
    document = built["word/document.xml"].decode("utf-8")
    assert "{{ signer_name }}" in document and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in document
