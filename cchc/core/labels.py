"""Every Vietnamese word the system shows for one of its codes, in one place.

Mail, reports, the portal, the Prefect artifacts and the CLI all read their labels here, so a status
or a kind is called the same everywhere, and no English code reaches a Vietnamese reader.
"""

from __future__ import annotations

from cchc.core.evaluate import Status
from cchc.core.health import Verdict
from cchc.core.spec import Channel

STATUS_VI: dict[Status, str] = {
    Status.upcoming: "chưa đến kỳ",
    Status.open: "đang thực hiện",
    Status.due_soon: "sắp đến hạn",
    Status.met: "đạt",
    Status.met_late: "đạt (muộn)",
    Status.overdue: "quá hạn",
    Status.missed: "không đạt",
    Status.waived: "miễn",
    Status.before_effect: "chưa hiệu lực",
}

CHANNEL_VI: dict[Channel, str] = {
    Channel.website: "Tin, bài trên Trang thông tin điện tử",
    Channel.radio: "Chương trình phát thanh",
    Channel.social: "Tin, bài trên mạng xã hội",
    Channel.banner: "Pa-nô, áp phích, băng rôn, khẩu hiệu",
    Channel.meeting: "Hội nghị, cuộc họp, đối thoại",
    Channel.contest: "Cuộc thi",
    Channel.survey: "Khảo sát, lấy ý kiến",
    Channel.notice_board: "Niêm yết, bảng tin",
    Channel.training: "Tập huấn, bồi dưỡng",
    Channel.press: "Báo chí",
    Channel.report: "Báo cáo",
    Channel.other: "Hình thức khác",
}

EVIDENCE_KIND_VI: dict[str, str] = {
    "post": "bài đăng",
    "broadcast": "chương trình phát thanh",
    "document": "văn bản",
    "photo": "ảnh",
    "event": "sự kiện",
    "survey": "khảo sát",
    "report_delivery": "báo cáo",
}

# The kind of message, as its subject line starts.
ACTION_VI: dict[str, str] = {
    "reminder": "Nhắc hạn",
    "progress": "Nhắc tiến độ",
    "overdue": "Quá hạn",
    "escalation": "Báo cáo lãnh đạo",
    "digest": "Tình hình tuần",
    "notice": "Thông báo",
}

MAIL_STATUS_VI: dict[str, str] = {
    "queued": "chờ gửi",
    "sending": "đang gửi",
    "sent": "đã gửi",
    "failed": "lỗi",
    "skipped": "bỏ qua",
}

# Where a periodic report stands (the report_runs.state column; None: no row yet).
REPORT_STATE_VI: dict[str | None, str] = {
    None: "chưa lập dự thảo",
    "pending": "chưa lập dự thảo",
    "drafted": "chờ duyệt",
    "sent_back": "trả lại để sửa",
    "approved": "đã duyệt, đang gửi",
    "signing": "đã duyệt, chờ ký và gửi",
    "signed": "đã ký, đang gửi",
    "delivered": "đã gửi",
}

VERDICT_VI: dict[Verdict, str] = {"ok": "tốt", "warning": "cảnh báo", "failing": "lỗi"}

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

CADENCE_VI: dict[str, str] = {
    "month": "hằng tháng",
    "quarter": "hằng quý",
    "half": "6 tháng một lần",
    "year": "hằng năm",
    "once": "một lần",
}
