"""`[tool.sqla-lint]`: closest configuration wins per file, validation, --config, --isolated,
and the flake8 plugin reading the same rule knobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_cli

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
HELPER = "from app.db import make_session\n\ndef f():\n    s = make_session()\n    s.query(1)\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _reported(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split(":")[0] for line in result.stdout.splitlines() if ": SQA" in line}


def test_closest_configuration_wins_per_file(tmp_path: Path):
    _write(tmp_path, {
        "pyproject.toml": '[tool.sqla-lint]\nignore = ["SQA401"]\n',
        "root_leak.py": LEAK,
        "service/pyproject.toml": '[tool.sqla-lint]\nselect = ["ALL"]\n',
        "service/svc_leak.py": LEAK,
        "service/other/pyproject.toml": "[project]\nname = 'no-table-here'\n",
        "service/other/deep_leak.py": LEAK,
    })
    result = run_cli("check", ".", cwd=tmp_path)
    assert _reported(result) == {"service/svc_leak.py", "service/other/deep_leak.py"}
    # The same answer whichever directory the run starts from.
    assert _reported(run_cli("check", "service", cwd=tmp_path)) == {"service/svc_leak.py", "service/other/deep_leak.py"}
    assert run_cli("check", "root_leak.py", cwd=tmp_path).returncode == 0
    assert run_cli("check", "--isolated", "root_leak.py", cwd=tmp_path).returncode == 1
    explicit = run_cli("check", "--config", "pyproject.toml", ".", cwd=tmp_path)
    assert _reported(explicit) == set()


def test_nested_excludes_and_per_file_ignores_are_relative_to_their_config(tmp_path: Path):
    _write(tmp_path, {
        "pyproject.toml": '[tool.sqla-lint]\nper-file-ignores = { "tests/*" = ["SQA401"], "conftest.py" = ["SQA4"] }\n',
        "tests/test_a.py": LEAK,
        "app/tests/test_b.py": LEAK,
        "app/conftest.py": LEAK,
        "lib/pyproject.toml": '[tool.sqla-lint]\nextend-exclude = ["generated"]\n',
        "lib/generated/g.py": LEAK,
        "lib/real.py": LEAK,
    })
    result = run_cli("check", ".", cwd=tmp_path)
    # tests/* is anchored at the root config, so app/tests is still linted; a bare name matches anywhere.
    assert _reported(result) == {"app/tests/test_b.py", "lib/real.py"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('slect = ["SQA4"]', "unknown key 'slect' in [tool.sqla-lint]"),
        ('select = ["SQA999"]', "unknown rule selector 'SQA999'"),
        ('ignore = ["E501"]', "unknown rule selector 'E501'"),
        ('extend-select = "SQA4"', "'extend-select' must be a list of strings"),
        ('per-file-ignores = { "tests/*" = ["SQA9"] }', "unknown rule selector 'SQA9'"),
        ('per-file-ignores = { "tests/*" = "SQA401" }', "'per-file-ignores' must map glob patterns to lists of codes"),
        ("session-factories = [1]", "'session-factories' must be a list of strings"),
        ("baseline = 3", "'baseline' must be a path string"),
        ("select = [", "invalid TOML"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2(tmp_path: Path, table: str, message: str):
    _write(tmp_path, {"pyproject.toml": f"[tool.sqla-lint]\n{table}\n", "leak.py": LEAK})
    result = run_cli("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "pyproject.toml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_config_flag_errors(tmp_path: Path):
    missing = run_cli("check", "--config", str(tmp_path / "nope.toml"), str(tmp_path))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def _flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8", "--select", "SQA", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_flake8_reads_the_rule_knobs_from_the_same_table(tmp_path: Path):
    _write(tmp_path, {
        "pyproject.toml": '[tool.sqla-lint]\nsession-factories = ["app.db.make_session"]\nignore = ["SQA401"]\n',
        "svc.py": HELPER,
        "plain/pyproject.toml": "[tool.sqla-lint]\n",
        "plain/svc.py": HELPER,
    })
    flake8 = _flake8(tmp_path, "svc.py", "plain/svc.py")
    # The factory is known under the root table; `ignore` is the CLI's business, not flake8's.
    assert flake8.stdout.splitlines() == ["svc.py:4:9: SQA401 Session `s` is never closed; open it with `with make_session() as s:` or close it in `finally`"]
    assert run_cli("check", "svc.py", cwd=tmp_path).returncode == 0
    assert "svc.py:4:9: SQA401" in run_cli("check", "--select", "ALL", "svc.py", cwd=tmp_path).stdout
    (tmp_path / "pyproject.toml").write_text('[tool.sqla-lint]\nsession-factorie = ["app.db.make_session"]\n')
    broken = _flake8(tmp_path, "svc.py")
    assert broken.returncode != 0 and "unknown key 'session-factorie'" in broken.stdout + broken.stderr
    assert "Traceback" not in broken.stdout + broken.stderr


def _enabled(monkeypatch: pytest.MonkeyPatch, table: dict[str, object], **overrides: object) -> frozenset[str]:
    """``build_settings`` with SQA503 standing in for a preview rule."""
    from sqla_lint import settings as settings_module
    from sqla_lint.config import FileConfig, Overrides, build_settings

    monkeypatch.setattr(settings_module, "PREVIEW_CODES", frozenset({"SQA503"}))
    return build_settings(FileConfig(None, table), Overrides(**overrides)).enabled  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "overrides", "runs"),
    [
        ({}, {}, False),
        ({"select": ["ALL"]}, {}, False),
        ({"select": ["SQA5"]}, {}, False),
        ({}, {"select": ["SQA5"]}, False),
        ({}, {"select": ["ALL"]}, False),
        ({"preview": True}, {}, True),
        ({}, {"preview": True}, True),
        ({"preview": True}, {"preview": False}, False),  # --no-preview beats the table
        ({"select": ["SQA503"]}, {}, True),
        ({"extend-select": ["sqa503"]}, {}, True),
        ({}, {"select": ["SQA503"]}, True),
        ({}, {"extend_select": ["SQA503"]}, True),
        ({"select": ["SQA503"]}, {"select": ["SQA5"]}, False),  # a command-line --select starts over
        ({"select": ["SQA503"]}, {"extend_select": ["SQA4"]}, True),
        ({"preview": True}, {"ignore": ["SQA503"]}, False),
        ({}, {"select": ["SQA503"], "ignore": ["SQA5"]}, False),
    ],
)
def test_preview_rules_run_only_when_asked(monkeypatch: pytest.MonkeyPatch, table: dict[str, object], overrides: dict[str, object], runs: bool):
    enabled = _enabled(monkeypatch, table, **overrides)
    assert ("SQA503" in enabled) is runs


def test_preview_gate_leaves_stable_rules_alone(monkeypatch: pytest.MonkeyPatch):
    from sqla_lint.settings import ALL_CODES

    assert _enabled(monkeypatch, {}) == frozenset(ALL_CODES) - {"SQA503"}
    assert _enabled(monkeypatch, {}, preview=True) == frozenset(ALL_CODES)
    assert _enabled(monkeypatch, {"select": ["SQA503"]}) == {"SQA503"}


def test_preview_setting_keys_the_result_cache(tmp_path: Path):
    from sqla_lint.cache import ResultCache
    from sqla_lint.config import FileConfig, Overrides, build_settings

    plain = build_settings(FileConfig(), Overrides())
    preview = build_settings(FileConfig(), Overrides(preview=True))
    assert preview.preview and not plain.preview
    assert ResultCache(tmp_path, plain).path != ResultCache(tmp_path, preview).path


def test_preview_must_be_a_boolean(tmp_path: Path):
    _write(tmp_path, {"pyproject.toml": '[tool.sqla-lint]\npreview = "yes"\n', "leak.py": LEAK})
    result = run_cli("check", ".", cwd=tmp_path)
    assert result.returncode == 2 and "'preview' must be true or false" in result.stderr
