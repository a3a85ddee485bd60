"""The one place that reads the environment (prefix ``CCHC_``, plus Prefect's own server settings)."""

from __future__ import annotations

import contextlib
import os
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout's var/, absolute: a relative default would follow the working directory.
DEFAULT_HOME = Path(__file__).resolve().parent.parent / "var"


class SettingsError(Exception):
    """A setting in the environment cannot be used; the message is one line, for the user."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCHC_", extra="ignore")

    home: Path = Field(
        default=DEFAULT_HOME,
        description="Local data folder (absolute): database, stored files, mail, logs; default: the checkout's var/.",
    )
    database_url: str | None = Field(default=None, description="Any SQLAlchemy URL; default SQLite under home.")
    plan_dir: Path = Field(default=Path("plan_specs"), description="Where plan specs are read from.")
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://user:pass@host:587 (STARTTLS), smtps://host:465, or smtp+insecure://127.0.0.1:1025; unset: .eml files.",
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) to verify the SMTP server against, instead of the system CAs."
    )
    smtp_timeout: float = Field(default=30.0, gt=0, description="Seconds allowed for each SMTP step.")
    mail_from: str = Field(default="CCHC <cchc@localhost>", description="The From header of every message.")
    report_template: Path | None = Field(
        default=None, description="A restyled Word template for reports (.docx with docxtpl tags); default: built in."
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs the units' answer links; unset: a random key kept in CCHC_HOME/secret.key."
    )
    portal_url: str = Field(
        default="http://127.0.0.1:8700", description="Public address of `cchc portal`, used in the links of emails."
    )
    portal_bind: str | None = Field(
        default=None,
        description="host:port `cchc up` runs the portal on (default: from CCHC_PORTAL_URL, or 127.0.0.1:8700).",
    )
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest file a unit may upload.")
    outbox_lease_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "How long a mail pass holds the one message it is sending before another pass may take it over; "
            "keep it well above the worst honest send (each SMTP step may take CCHC_SMTP_TIMEOUT)."
        ),
    )
    operator_email: str | None = Field(
        default=None, description="Who runs the installation: the watchdog writes here (and to the coordinators)."
    )
    late_start_minutes: int = Field(
        default=30, gt=0, description="`cchc doctor`: a scheduled run not started this long after its time is a fault."
    )
    watchdog_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between the health checks `cchc up` runs on its own."
    )
    log_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="A log file under CCHC_HOME/logs is rotated at this size."
    )
    log_backups: int = Field(default=5, ge=1, description="How many rotated copies of each log file are kept.")
    deployment_profile: Literal["commune", "province"] = Field(
        default="commune",
        description=(
            "commune: each plan also has its 'Tuần này' page and coordinator forms as deployments; province "
            "(many plans): only duties, reports and the mail pass (coordinators act in the portal)."
        ),
    )
    # Prefect's own variables, read here so that nothing else touches the environment.
    prefect_api_url: str | None = Field(default=None, validation_alias=AliasChoices("PREFECT_API_URL"))
    prefect_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("PREFECT_API_KEY"))
    prefect_api_auth_string: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PREFECT_API_AUTH_STRING")
    )
    prefect_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PREFECT_API_DATABASE_CONNECTION_URL")
    )
    requeue_after: float = Field(
        default=90.0,
        ge=45,
        description="`cchc up --scale`: a flow run silent this many seconds (its worker died) goes back to the queue.",
    )
    project_dir: Path | None = Field(
        default=None, description="The checkout a worker runs flows from (`cchc worker`); default: this checkout."
    )
    worker_direct_command: bool = Field(
        default=True,
        description="`cchc up --scale`: workers start each run's engine directly, without Prefect's workspace "
        "supervisor (one process per run, ~1 s CPU less); false: Prefect's default command.",
    )
    server_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("PREFECT_SERVER_API_HOST"))
    server_port: int = Field(default=4200, validation_alias=AliasChoices("PREFECT_SERVER_API_PORT"))

    @field_validator("operator_email")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        # Only a bare address: a display name here would have to be encoded, and a bad one must not
        # keep the watchdog's alarm from the coordinators.
        if value is None or not value.strip():
            return None
        text = value.strip()
        if parseaddr(text)[1] != text or text.count("@") != 1 or not text.isascii() or " " in text:
            raise ValueError(f"CCHC_OPERATOR_EMAIL must be a bare address like ops@tinh.gov.vn, not {text!r}")
        return text

    @field_validator("home", mode="before")
    @classmethod
    def _home_is_absolute(cls, value: object) -> object:
        # An empty or relative CCHC_HOME would put the database and secret.key in whatever
        # folder the command happens to run from.
        if isinstance(value, str | os.PathLike):
            text = os.fspath(value)
            if isinstance(text, str) and (not text.strip() or not Path(text).is_absolute()):
                raise PydanticCustomError(
                    "cchc_home",
                    "CCHC_HOME phải là đường dẫn tuyệt đối (ví dụ /var/lib/cchc), "
                    "không được để trống hay tương đối: {value}",
                    {"value": repr(text)},
                )
        return value

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'cchc.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def mail_dir(self) -> Path:
        """Where messages go as .eml files when no SMTP server is configured."""
        return self.home / "mail" / "outbox"

    @property
    def inbox_dir(self) -> Path:
        """Where `cchc mail serve` keeps what it receives."""
        return self.home / "mail" / "inbox"

    @property
    def mail_from_address(self) -> str:
        return parseaddr(self.mail_from)[1] or "cchc@localhost"

    def link_secret(self) -> bytes:
        """The signing key: CCHC_SECRET_KEY, else one generated once and kept (0600) under CCHC_HOME."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        path = self.home / "secret.key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret.{secrets.token_hex(8)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # never overwrite a key another process created first
            tmp.unlink()
        return path.read_text().strip().encode()

    def child_env(self, extra: dict[str, str]) -> dict[str, str]:
        """Environment for processes we start: ours, with absolute paths, plus ``extra``."""
        env = dict(os.environ)
        env["CCHC_HOME"] = str(self.home.resolve())
        env["CCHC_PLAN_DIR"] = str(self.plan_dir.resolve())
        if self.database_url:
            env["CCHC_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env


def describe(error: ValidationError) -> str:
    """One line naming each bad variable, for the CLI and the logs."""
    parts = []
    for e in error.errors(include_url=False):
        if e["type"] == "cchc_home":
            parts.append(e["msg"])  # already names the variable and shows the value
            continue
        name = str(e["loc"][0]) if e["loc"] else ""
        var = name if name.isupper() else f"CCHC_{name.upper()}"
        # The value is not echoed: it may be a password (CCHC_SMTP_URL, CCHC_SECRET_KEY).
        parts.append(f"biến môi trường {var} không hợp lệ: {e['msg']}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process; SettingsError (one line) when the environment holds a bad value."""
    try:
        return Settings()
    except ValidationError as e:
        raise SettingsError(describe(e)) from None
