"""The one place that reads the environment (prefix ``CCHC_``, plus Prefect's own server settings)."""

from __future__ import annotations

import contextlib
import os
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCHC_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Local data folder: database, stored files, mail.")
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
    # Prefect's own variables, read here so that nothing else touches the environment.
    prefect_api_url: str | None = Field(default=None, validation_alias=AliasChoices("PREFECT_API_URL"))
    server_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("PREFECT_SERVER_API_HOST"))
    server_port: int = Field(default=4200, validation_alias=AliasChoices("PREFECT_SERVER_API_PORT"))

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
