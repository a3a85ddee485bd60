"""The systemd units in deploy/systemd/: `systemd-analyze verify` accepts them, and they say what we mean.

`systemd-analyze verify` works offline (no systemd as PID 1 needed). It exits 0 on problems it only
warns about (an unknown key, a value it cannot parse), so the check also fails on any output line
naming one of our files; a deliberately broken unit proves that this check can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from cchc.app.supervisor import STOP_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
UNIT_DIR = ROOT / "deploy" / "systemd"
CHECKOUT = "/opt/cchc"
# The installed command the units start; in the test it is this venv's `cchc` script.
CCHC_BIN = Path(sys.executable).with_name("cchc")
# Pure offline check: no man page lookups, no generators, only the given units count.
VERIFY_FLAGS = ["--man=no", "--generators=no", "--recursive-errors=no"]

Unit = dict[str, list[tuple[str, str]]]


@pytest.fixture(scope="module")
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is not installed; scripts/dev installs Debian's systemd package")
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return found


def parse_unit(text: str) -> Unit:
    """Sections -> (key, value) pairs in order; keys may repeat (Environment=, After=)."""
    unit: Unit = {}
    section: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], [])
            continue
        assert section is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        section.append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= expected once, found {found}"
    return found[0]


def words(unit: Unit, section: str, key: str) -> list[str]:
    return [w for v in values(unit, section, key) for w in v.split()]


def environment(unit: Unit) -> dict[str, str]:
    env: dict[str, str] = {}
    for v in values(unit, "Service", "Environment"):
        for assignment in v.split():
            name, _, val = assignment.partition("=")
            env[name] = val
    return env


def load(name: str) -> Unit:
    return parse_unit((UNIT_DIR / name).read_text(encoding="utf-8"))


def install(dest: Path, names: list[str], edit: dict[str, str] | None = None) -> list[Path]:
    """Copy units into ``dest`` as they would be on a machine whose checkout is this one."""
    assert os.access(CCHC_BIN, os.X_OK), f"{CCHC_BIN} is not executable: run scripts/dev setup"
    out = []
    for name in names:
        text = (UNIT_DIR / name).read_text(encoding="utf-8")
        text = text.replace(f"{CHECKOUT}/.venv/bin/cchc", str(CCHC_BIN)).replace(CHECKOUT, str(ROOT))
        for old, new in (edit or {}).items():
            text = text.replace(old, new)
        (dest / name).write_text(text, encoding="utf-8")
        out.append(dest / name)
    return out


def verify(analyze: str, units: list[Path]) -> tuple[int, list[str]]:
    """Exit code, and the output lines that are about the given unit files."""
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "info", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}
    r = subprocess.run(
        [analyze, "verify", *VERIFY_FLAGS, *map(str, units)],
        capture_output=True,
        text=True,
        env=env,
        cwd=units[0].parent,
        timeout=60,
        check=False,
    )
    ours = [str(units[0].parent), *(u.name for u in units)]
    lines = (r.stdout + r.stderr).splitlines()
    return r.returncode, [line for line in lines if any(o in line for o in ours)]


def test_every_unit_is_tested() -> None:
    assert sorted(p.name for p in UNIT_DIR.iterdir()) == [
        "cchc-watchdog.service",
        "cchc-watchdog.timer",
        "cchc.service",
    ]


@pytest.mark.parametrize(
    "names",
    [["cchc.service"], ["cchc-watchdog.service"], ["cchc-watchdog.timer", "cchc-watchdog.service"]],
    ids=["cchc.service", "cchc-watchdog.service", "cchc-watchdog.timer"],
)
def test_systemd_analyze_verify_accepts_the_unit(analyze: str, tmp_path: Path, names: list[str]) -> None:
    code, problems = verify(analyze, install(tmp_path, names))
    assert code == 0, problems
    assert problems == []


def test_the_check_fails_on_a_broken_unit(analyze: str, tmp_path: Path) -> None:
    # Warnings exit 0: only the output lines catch them, so make sure they are caught.
    units = install(tmp_path, ["cchc.service"], {"Restart=on-failure": "Restart=sometimes\nBogusKey=1"})
    _, problems = verify(analyze, units)
    assert any("sometimes" in line for line in problems), problems
    assert any("BogusKey" in line for line in problems), problems
    # A start command that does not exist is an error (exit code not 0).
    missing = tmp_path / "missing"
    missing.mkdir()
    units = install(missing, ["cchc.service"], {str(CCHC_BIN): str(tmp_path / "no-such-cchc")})
    code, problems = verify(analyze, units)
    assert code != 0 and any("no-such-cchc" in line for line in problems), problems


def test_cchc_service_runs_cchc_up_as_a_restarting_boot_service() -> None:
    unit = load("cchc.service")
    assert one(unit, "Service", "ExecStart") == f"{CHECKOUT}/.venv/bin/cchc up"
    assert one(unit, "Service", "WorkingDirectory") == CHECKOUT
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "User") == "cchc"
    assert one(unit, "Service", "Group") == "cchc"
    assert "multi-user.target" in words(unit, "Install", "WantedBy")
    assert "network-online.target" in words(unit, "Unit", "After")
    assert "network-online.target" in words(unit, "Unit", "Wants")
    # SIGTERM to `cchc up` alone: it stops its children in order; the rest is killed only after the timeout.
    assert one(unit, "Service", "KillMode") == "mixed"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert int(one(unit, "Service", "TimeoutStopSec")) >= 90 > STOP_TIMEOUT


@pytest.mark.parametrize("name", ["cchc.service", "cchc-watchdog.service"])
def test_data_lives_outside_the_checkout_and_is_writable(name: str) -> None:
    unit = load(name)
    home = environment(unit).get("CCHC_HOME", "")
    path = PurePosixPath(home)
    assert path.is_absolute(), home
    assert not path.is_relative_to(one(unit, "Service", "WorkingDirectory"))
    # StateDirectory=cchc is /var/lib/cchc, created for User=; with ProtectSystem it must stay writable.
    assert path == PurePosixPath("/var/lib") / one(unit, "Service", "StateDirectory")
    assert home in words(unit, "Service", "ReadWritePaths")
    assert one(unit, "Service", "ProtectSystem") in ("yes", "full")
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    # Secrets come from an optional file, never from the unit itself.
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/cchc/cchc.env"
    assert not any(k.startswith(("CCHC_SMTP", "CCHC_SECRET")) for k in environment(unit))


def test_watchdog_service_and_timer() -> None:
    service, timer, main = load("cchc-watchdog.service"), load("cchc-watchdog.timer"), load("cchc.service")
    assert one(service, "Service", "Type") == "oneshot"
    assert one(service, "Service", "ExecStart") == f"{CHECKOUT}/.venv/bin/cchc watchdog --once"
    assert one(service, "Service", "User") == "cchc"
    assert environment(service)["CCHC_HOME"] == environment(main)["CCHC_HOME"]
    assert "Install" not in service  # started by the timer only
    assert one(timer, "Timer", "OnCalendar") == "hourly"
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Timer", "Unit") == "cchc-watchdog.service"
    assert "timers.target" in words(timer, "Install", "WantedBy")


@pytest.mark.parametrize("name", ["cchc.service", "cchc-watchdog.service", "cchc-watchdog.timer"])
def test_each_unit_says_how_to_install_it(name: str) -> None:
    comments = "\n".join(
        line for line in (UNIT_DIR / name).read_text(encoding="utf-8").splitlines() if line.startswith("#")
    )
    assert "useradd --system --home /var/lib/cchc cchc" in comments
    assert re.search(r"cp .*deploy/systemd/" + re.escape(name), comments)
    assert "systemctl daemon-reload" in comments
    assert "systemctl enable --now" in comments


def test_cchc_up_starts_its_children_in_the_checkout() -> None:
    """Relative settings and the flows' entrypoints resolve against the checkout, as for `cchc up` itself."""
    from cchc.app.supervisor import PROJECT_ROOT

    assert PROJECT_ROOT == ROOT
    assert (PROJECT_ROOT / "flows" / "serve.py").is_file() and (PROJECT_ROOT / "pyproject.toml").is_file()
