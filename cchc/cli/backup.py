"""`cchc backup` and `cchc restore`: the whole state of an installation in one verified archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cchc.cli.app import app, emit_json, fail, now_utc


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} kB"


def _revision(revs: list[str] | tuple[str, ...]) -> str:
    return ", ".join(revs) or "chưa có"


@app.command()
def backup(
    out: Annotated[
        Path | None,
        typer.Option(help="Tệp .tar.gz sẽ tạo, hoặc thư mục để đặt nó (mặc định: CCHC_HOME/backups/)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sao lưu khi hệ thống vẫn chạy: kho dữ liệu, cơ sở dữ liệu của Prefect và các tệp minh chứng, vào một tệp."""
    from cchc.app import backup as bk
    from cchc.settings import get_settings

    try:
        result = bk.create_backup(get_settings(), now_utc(), out)
    except bk.BackupError as e:
        fail(str(e))
    m = result.manifest
    if as_json:
        emit_json(
            {
                "path": str(result.path),
                "sha256": result.sha256,
                "bytes": result.bytes,
                "created_at": m.created_at.isoformat(),
                "store": {"kind": m.store.kind, "alembic_revision": m.store.alembic_revision},
                "prefect": m.prefect is not None,
                "files": len(m.files),
                "files_missing": m.files_missing,
            }
        )
    else:
        typer.echo(f"đã sao lưu: {result.path} ({_size(result.bytes)}, sha256 {result.sha256})")
        typer.echo(f"  kho dữ liệu: {m.store.kind}, phiên bản {_revision(m.store.alembic_revision)}")
        typer.echo(f"  cơ sở dữ liệu Prefect: {'có' if m.prefect else 'không có (chưa chạy `cchc up` ở đây)'}")
        typer.echo(f"  tệp minh chứng và báo cáo: {len(m.files)}")
    if m.files_missing:
        # The archive is written and usable; these files were already gone or damaged before it.
        typer.echo(
            f"cảnh báo: {len(m.files_missing)} tệp mà kho dữ liệu nhắc tới bị thiếu hoặc hỏng trong "
            f"{get_settings().files_dir}: {', '.join(m.files_missing[:5])}",
            err=True,
        )
        raise typer.Exit(1)


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="Tệp do `cchc backup` tạo.")],
    home: Annotated[Path | None, typer.Option(help="Thư mục dữ liệu đích (mặc định: CCHC_HOME).")] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Thay kho dữ liệu đang có dữ liệu (bản cũ được giữ trong backups/ của đích)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Khôi phục một bản sao lưu: kiểm tra toàn bộ trước khi ghi; không chạy khi hệ thống đang chạy trên đích."""
    from cchc.app import backup as bk
    from cchc.settings import get_settings

    try:
        result = bk.restore_backup(get_settings(), archive, now_utc(), home=home, force=force)
    except bk.BackupError as e:
        fail(str(e))
    m = result.manifest
    if as_json:
        emit_json(
            {
                "home": str(result.home),
                "created_at": m.created_at.isoformat(),
                "store": {
                    "kind": m.store.kind,
                    "archive_revision": m.store.alembic_revision,
                    "alembic_revision": list(result.revision),
                },
                "prefect": result.prefect,
                "files_written": result.files_written,
                "files_present": result.files_present,
                "replaced": str(result.replaced) if result.replaced else None,
                "notes": result.notes,
            }
        )
        return
    typer.echo(f"đã khôi phục bản sao lưu lúc {m.created_at:%Y-%m-%d %H:%M} UTC vào {result.home}")
    before, after = _revision(m.store.alembic_revision), _revision(result.revision)
    moved = f" (nâng từ {before})" if before != after else ""
    typer.echo(f"  kho dữ liệu: {m.store.kind}, phiên bản {after}{moved}")
    typer.echo(f"  cơ sở dữ liệu Prefect: {'có' if result.prefect else 'không có trong bản sao lưu'}")
    typer.echo(f"  tệp: {result.files_written} ghi mới, {result.files_present} đã có sẵn")
    if result.replaced:
        typer.echo(f"  dữ liệu cũ được giữ tại: {result.replaced}")
    for note in result.notes:
        typer.echo(f"lưu ý: {note}", err=True)
