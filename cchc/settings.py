"""The one place that reads the environment (prefix ``CCHC_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCHC_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Local data folder: database, stored files, mail.")
    database_url: str | None = Field(default=None, description="Any SQLAlchemy URL; default SQLite under home.")
    plan_dir: Path = Field(default=Path("plan_specs"), description="Where plan specs are read from.")
    smtp_url: SecretStr | None = None
    mail_from: str = "CCHC <cchc@localhost>"
    secret_key: SecretStr | None = None

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'cchc.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
