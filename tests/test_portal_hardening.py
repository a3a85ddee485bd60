"""The portal's hardening (security review, item 11), against a real uvicorn on loopback with httpx."""

# ruff: noqa: F811  (the `env` fixture is imported from tests/test_portal.py and named as a parameter)

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import shutil
import struct
import zipfile
from typing import Any

import httpx
import pytest

from cchc.app import service
from cchc.core import links
from cchc.portal import app as portal_app
from tests.test_portal import DUTY, PLAN, PNG, Env, _reminder_link, _stored_files, env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout_slow
FORM = {"url": "https://phuthong.example/tin", "title": "Tin", "date": "2025-10-20"}


def _count(e: Env) -> int:
    plan = service.resolve_plan(PLAN, e.settings)
    return sum(j.count for j in service.judge_plan(e.settings, plan, e.clock.now) if j.occurrence.duty == DUTY)


def _token(e: Env, payload: bytes) -> str:
    """A token correctly signed with the installation's secret over any payload bytes (raw, not re-encoded)."""
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return _signed(e, body)


def _signed(e: Env, body: str) -> str:
    sig = hmac.new(e.settings.link_secret(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def _claims(**change: Any) -> bytes:
    body = {"p": PLAN, "d": DUTY, "k": "2025-10", "u": "ttdvth", "e": 1_763_000_000} | change
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def png() -> bytes:
    return PNG  # the real 1x1 PNG the portal tests share


def jpeg() -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 1, 1, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof0 + sos + b"\x12\x34" + b"\xff\xd9"


def pdf(middle: bytes = b"") -> bytes:
    out = b"%PDF-1.4\n"
    offsets = []
    for obj in (b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"):
        offsets.append(len(out))
        out += f"{len(offsets)} 0 obj\n".encode() + obj + b"\nendobj\n"
    out += middle
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def docx(parts: tuple[str, ...] = ("[Content_Types].xml", "word/document.xml")) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in parts:
            text = '<Override ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            z.writestr(name, text if name.startswith("[") else "<w:document/>")
    return buf.getvalue()


# 1. Security headers


def test_every_answer_carries_the_security_headers_and_the_page_style_is_allowed_by_its_hash(env: Env) -> None:
    link = _reminder_link(env)
    answers = [
        httpx.get(link),  # the signed page
        httpx.post(link + "/link", data=FORM),  # its POST answer
        httpx.get(link[:-3] + "AAA"),  # a refusal page
        httpx.get(env.base + "/healthz"),
        httpx.get(env.base + "/nowhere"),  # a 404 from the framework
        httpx.post(link + "/file", files={"file": ("x", b"\x00" * 200_000)}, timeout=10),  # BodyLimit's own 413
    ]
    assert [a.status_code for a in answers] == [200, 200, 403, 200, 404, 413]
    for a in answers:
        csp = a.headers["content-security-policy"]
        for directive in ("default-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "script-src 'none'"):
            assert directive in csp, (a.request.url, csp)
        assert a.headers["x-frame-options"] == "DENY"
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["referrer-policy"] == "same-origin"
        assert a.headers["cache-control"] == "no-store"
    # The only inline code in the pages is one <style>, and the CSP allows exactly that text by its hash.
    page = answers[0].text
    assert "<script" not in page and " style=" not in page and " on" not in page.split("<body>")[1].split("=")[0]
    style = page.split("<style>")[1].split("</style>")[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in answers[0].headers["content-security-policy"]


# 2. Cross-origin POST


def test_a_cross_origin_post_is_refused_before_anything_is_recorded(env: Env) -> None:
    link = _reminder_link(env)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": env.base.replace("127.0.0.1", "localhost")},  # same machine, another origin
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example", "Referer": env.base + "/n/x"},  # Origin wins over Referer
    ):
        answer = httpx.post(link + "/link", data=FORM, headers=headers)
        assert answer.status_code == 403 and "Yêu cầu không hợp lệ" in answer.text, headers
        files = {"file": ("a.png", png(), "image/png")}
        answer = httpx.post(link + "/file", files=files, data={"title": "Ảnh", "date": "2025-10-20"}, headers=headers)
        assert answer.status_code == 403, headers
    assert _count(env) == 0 and _stored_files(env.settings) == []
    # Its own origin (a browser's form post), its own page as Referer, or neither header (curl) are accepted.
    for headers in ({"Origin": env.base}, {"Referer": link}, {}):
        form = FORM | {"url": f"https://phuthong.example/tin-{len(headers)}-{sorted(headers)}"}
        assert httpx.post(link + "/link", data=form, headers=headers).status_code == 200, headers
    assert _count(env) == 3


# 3. Malformed tokens


@pytest.mark.parametrize(
    "payload",
    [
        _claims(e=1e300),
        b'{"p":"phu-thong-2025","d":"ttdvth-tin-bai-website","k":"2025-10","u":"ttdvth","e":1e999}',
        _claims(e="1763000000"),
        _claims(e=1763000000.5),
        _claims(e=True),
        _claims(e=None),
        _claims(e=-1),
        _claims(e=10**30),
        b'{"p":"phu-thong-2025","d":"ttdvth-tin-bai-website","k":"2025-10","u":"ttdvth","e":1' + b"0" * 1400 + b"}",
        _claims(u=...),  # a missing field
        _claims(x=1),  # an unknown field
        _claims(d=7),
        _claims(k="tháng 10"),
        _claims(u=["ttdvth"]),
        b"[1, 2, 3]",
        b"not json",
        b"\xff\xfe\x00",  # not UTF-8
        b"[" * 1500,  # too deep for the parser
    ],
)
def test_a_malformed_but_signed_token_is_refused_with_403_never_500(env: Env, payload: bytes) -> None:
    token = _token(env, payload)
    for answer in (httpx.get(f"{env.base}/n/{token}"), httpx.post(f"{env.base}/n/{token}/link", data=FORM)):
        assert answer.status_code == 403, answer.text[:300]
        assert "Đường dẫn không hợp lệ" in answer.text
    assert _count(env) == 0


def test_bad_base64_is_refused_with_403_and_verify_raises_only_its_own_error(env: Env) -> None:
    for body in ("@@@", "a", "ab=c", "é"):
        token = _signed(env, body)
        assert httpx.get(f"{env.base}/n/{token}").status_code == 403
        with pytest.raises(links.MalformedLink):
            links.verify(env.settings.link_secret(), token, env.clock.now)
    with pytest.raises(links.MalformedLink):
        links.verify(env.settings.link_secret(), _token(env, _claims(e=1e300)), env.clock.now)
    with pytest.raises(links.MalformedLink):
        links.verify(env.settings.link_secret(), "x" * 5000, env.clock.now)


# 4. Only plan ids


@pytest.mark.parametrize(
    "plan",
    ["{tmp}/copy.yaml", "../plan_specs/phu-thong-2025", "plan_specs/phu-thong-2025.yaml", "phu-thong-2025.yaml",
     "..", "a\\b", "Phu-Thong", "", "-x", "x" * 65],
)  # fmt: skip
def test_a_claim_naming_a_path_is_refused_and_no_file_is_loaded(
    env: Env, plan: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(env.settings.plan_dir / f"{PLAN}.yaml", tmp_path / "copy.yaml")
    loaded: list[object] = []
    monkeypatch.setattr(portal_app, "load_plan", lambda p: loaded.append(p))
    monkeypatch.setattr(service, "resolve_plan", lambda *a: loaded.append(a))
    token = _token(env, _claims(p=plan.replace("{tmp}", str(tmp_path))))
    assert httpx.get(f"{env.base}/n/{token}").status_code == 403
    assert httpx.post(f"{env.base}/n/{token}/link", data=FORM).status_code == 403
    assert loaded == []
    with pytest.raises(links.MalformedLink):  # nor can such a link be issued
        links.sign(env.settings.link_secret(), links.Claims(plan, DUTY, "2025-10", "ttdvth", env.clock.now))


# 5. File types by structure


def test_file_types_are_checked_by_structure() -> None:
    sniff = portal_app.sniff
    assert sniff(png()) == portal_app.PNG
    assert sniff(jpeg()) == portal_app.JPEG
    assert sniff(pdf()) == portal_app.PDF
    assert sniff(docx()) == portal_app.DOCX
    refused = {
        "magic only png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "png bad crc": png()[:29] + b"\x00\x00\x00\x00" + png()[33:],
        "png bad depth": png().replace(b"\x08\x02\x00\x00\x00", b"\x03\x02\x00\x00\x00"),
        "png no IEND": png()[:-12],
        "magic only jpeg": b"\xff\xd8\xff\xe0" + b"<html><script>alert(1)</script></html>",
        "jpeg no EOI": jpeg()[:-2],
        "jpeg no frame": jpeg().replace(b"\xff\xc0", b"\xff\xe1"),
        "jpeg bad length": b"\xff\xd8\xff\xe0\xff\xff" + b"\x00" * 40 + b"\xff\xd9",
        "pdf then html": b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>",
        "pdf html with a trailer": b"%PDF-1.4\n<html><script>x</script></html>\nxref\nstartxref\n9\n%%EOF\n",
        "pdf no EOF": pdf()[:-6],
        "pdf offset outside": pdf().replace(b"startxref\n", b"startxref\n9999").rstrip() + b"\n",
        "pdf offset elsewhere": pdf(b"% padding\n").replace(b"startxref\n", b"startxref\n1").rstrip() + b"\n",
        "docx without content types": docx(("word/document.xml",)),
        "docx without document": docx(("[Content_Types].xml",)),
        "zip only": b"PK\x03\x04" + b"\x00" * 100,
        "html": b"<!doctype html><script>alert(1)</script>",
    }
    for name, data in refused.items():
        assert sniff(data) is None, name


def test_a_fake_pdf_is_refused_over_http_and_a_real_one_is_recorded(env: Env) -> None:
    link = _reminder_link(env)
    form = {"title": "Văn bản", "date": "2025-10-20"}
    fake = b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>"
    answer = httpx.post(link + "/file", files={"file": ("a.pdf", fake, "application/pdf")}, data=form)
    assert answer.status_code == 415 and "Loại tệp này không được nhận" in answer.text
    assert _stored_files(env.settings) == [] and _count(env) == 0
    for name, data in (("a.pdf", pdf()), ("b.png", png()), ("c.jpg", jpeg()), ("d.docx", docx())):
        answer = httpx.post(link + "/file", files={"file": (name, data)}, data=form)
        assert answer.status_code == 200 and "Đã ghi nhận" in answer.text, name
    assert len(_stored_files(env.settings)) == 4
