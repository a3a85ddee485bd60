"""The final report as PDF for signing: LibreOffice headless, one private profile per conversion.

LibreOffice refuses a second instance on a profile in use, so every conversion gets its own
temporary directory holding the input, the output and the user profile; concurrent runs never
collide, and nothing is left behind.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from cchc.app.service import UserError

TIMEOUT_SECONDS = 120.0


def soffice() -> str:
    """The LibreOffice binary, or a Vietnamese error saying what to install."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    raise UserError(
        "không tìm thấy LibreOffice (lệnh soffice) để tạo bản PDF trình ký; cài gói libreoffice-writer rồi chạy lại"
    )


def docx_to_pdf(docx: bytes, name: str = "bao-cao", timeout: float = TIMEOUT_SECONDS) -> bytes:
    """Convert one DOCX to PDF; raises UserError (Vietnamese) when LibreOffice fails or takes too long."""
    binary = soffice()
    with tempfile.TemporaryDirectory(prefix="cchc-pdf-") as tmp:
        root = Path(tmp)
        src = root / f"{name}.docx"
        src.write_bytes(docx)
        out = root / "out"
        cmd = [
            binary,
            f"-env:UserInstallation={(root / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(src),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(
                f"LibreOffice không chuyển xong báo cáo sang PDF sau {int(timeout)} giây; lần chạy sau sẽ thử lại"
            ) from None
        pdf = out / f"{name}.pdf"
        if done.returncode != 0 or not pdf.is_file():
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()[-300:]
            raise UserError(f"LibreOffice không chuyển được báo cáo sang PDF (mã {done.returncode}): {detail}")
        data = pdf.read_bytes()
    if not data.startswith(b"%PDF"):
        raise UserError("LibreOffice trả về một tệp không phải PDF; lần chạy sau sẽ thử lại")
    return data
