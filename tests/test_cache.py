"""The result cache: hits only for the same content, settings and tool; never a wrong or
broken result; safe to share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqla_lint import api
from sqla_lint.cache import ResultCache, default_cache_dir
from sqla_lint.semantic import FactoryConfig
from sqla_lint.settings import Settings

from .conftest import run_cli

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
CLEAN = "import os\n"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths that were actually linted rather than read from the cache."""
    linted: list[str] = []
    real = api.lint_source

    def lint_source(data, path, settings, *args, **kwargs):
        linted.append(Path(path).name)
        return real(data, path, settings, *args, **kwargs)

    monkeypatch.setattr(api, "lint_source", lint_source)
    return linted


def _run(root: Path, settings: Settings, cache: ResultCache) -> list[tuple[str, tuple]]:
    results = api.lint_paths([str(root)], settings, jobs=1, cache=cache)
    return [(Path(r.path).name, tuple((d.code, d.location.row, d.message) for d in r.diagnostics)) for r in results]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "leak.py").write_text(LEAK)
    (root / "clean.py").write_text(CLEAN)
    return root


def test_second_run_lints_nothing_and_reports_the_same(tmp_path: Path, counted: list[str]):
    root = _project(tmp_path)
    cache = ResultCache(tmp_path / "cache", Settings())
    first = _run(root, Settings(), cache)
    assert sorted(counted) == ["clean.py", "leak.py"]
    counted.clear()
    assert _run(root, Settings(), ResultCache(tmp_path / "cache", Settings())) == first
    assert counted == []
    assert [name for name, findings in first if findings] == ["leak.py"]


def test_a_changed_file_is_linted_again(tmp_path: Path, counted: list[str]):
    root = _project(tmp_path)
    cache = ResultCache(tmp_path / "cache", Settings())
    _run(root, Settings(), cache)
    counted.clear()
    (root / "clean.py").write_text(CLEAN + "import sys\n")
    _run(root, Settings(), cache)
    assert counted == ["clean.py"]


def test_a_change_to_what_a_module_binds_relints_the_project(tmp_path: Path, counted: list[str]):
    """Findings depend on other modules through the project index, so when a module's
    summary changes (here: it gains a session-returning helper), no result is reused."""
    root = _project(tmp_path)
    cache = ResultCache(tmp_path / "cache", Settings())
    _run(root, Settings(), cache)
    counted.clear()
    (root / "clean.py").write_text(LEAK)
    results = dict(_run(root, Settings(), cache))
    assert sorted(counted) == ["clean.py", "leak.py"]
    assert results["clean.py"] == results["leak.py"] != ()


def test_other_settings_do_not_share_results(tmp_path: Path, counted: list[str]):
    root = _project(tmp_path)
    _run(root, Settings(), ResultCache(tmp_path / "cache", Settings()))
    counted.clear()
    narrow = Settings(enabled=frozenset({"SQA501"}))
    assert dict(_run(root, narrow, ResultCache(tmp_path / "cache", narrow)))["leak.py"] == ()
    assert sorted(counted) == ["clean.py", "leak.py"]


def test_settings_key_does_not_depend_on_set_order(tmp_path: Path):
    script = (
        "import sys; from sqla_lint.cache import ResultCache; from sqla_lint.settings import Settings;"
        "from sqla_lint.semantic import FactoryConfig;"
        "s = Settings(factories=FactoryConfig(frozenset(f'app.f{i}' for i in range(20))));"
        "print(ResultCache(sys.argv[1], s).path.name)"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1


def _manifest(cache_dir: Path) -> Path:
    (manifest,) = cache_dir.glob("results-*.json")
    return manifest


@pytest.mark.parametrize("damage", ["not json", "a list", "files not a dict", "entries not lists"])
def test_a_corrupt_cache_is_a_miss(tmp_path: Path, counted: list[str], damage: str):
    root = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    expected = _run(root, Settings(), ResultCache(cache_dir, Settings()))
    manifest = _manifest(cache_dir)
    entries = json.loads(manifest.read_text())["files"]
    manifest.write_text(
        {
            "not json": "{not json",
            "a list": "[1, 2]",
            "files not a dict": json.dumps({"files": [1]}),
            "entries not lists": json.dumps({"files": {path: {"content": entry[0]} for path, entry in entries.items()}}),
        }[damage]
    )
    counted.clear()
    assert _run(root, Settings(), ResultCache(cache_dir, Settings())) == expected
    assert sorted(counted) == ["clean.py", "leak.py"]


def test_a_foreign_entry_is_a_miss(tmp_path: Path, counted: list[str]):
    """An entry stored for other content, another module name or another index digest is
    not used, whatever result it holds."""
    root = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    expected = _run(root, Settings(), ResultCache(cache_dir, Settings()))
    manifest = _manifest(cache_dir)
    data = json.loads(manifest.read_text())
    (leak,) = [path for path in data["files"] if path.endswith("leak.py")]
    for field, value in ((0, "0" * 32), (1, "elsewhere.leak"), (2, "f" * 16)):
        damaged = json.loads(json.dumps(data))
        damaged["files"][leak][field] = value
        damaged["files"][leak][3]["diagnostics"] = []  # a stale hit would hide the leak
        manifest.write_text(json.dumps(damaged))
        counted.clear()
        assert _run(root, Settings(), ResultCache(cache_dir, Settings())) == expected
        assert counted == ["leak.py"]


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    root = _project(tmp_path)
    assert dict(_run(root, Settings(), ResultCache(blocker, Settings())))["leak.py"]


def test_entries_are_written_whole(tmp_path: Path):
    root = _project(tmp_path)
    _run(root, Settings(), ResultCache(tmp_path / "cache", Settings()))
    names = sorted(path.name for path in (tmp_path / "cache").rglob("*") if path.is_file())
    assert not [name for name in names if name.startswith(".tmp-")]
    assert (tmp_path / "cache" / ".gitignore").read_text().strip().endswith("*")


def test_parallel_runs_sharing_a_cache_agree(tmp_path: Path):
    root = tmp_path / "project"
    root.mkdir()
    for index in range(40):
        (root / f"m{index}.py").write_text(LEAK if index % 3 == 0 else CLEAN)
    env = {**os.environ, "SQLA_LINT_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "sqla_lint", "check", "-j", "2", str(root)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300).stdout
    assert outputs[0] == outputs[1] == outputs[2] == again
    assert again.count("SQA401") == 14
    for entry in (tmp_path / "cache").rglob("*.json"):
        json.loads(entry.read_text())


def test_cli_no_cache_writes_nothing(tmp_path: Path):
    root = _project(tmp_path)
    env_dir = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "sqla_lint", "check", "--no-cache", str(root)],
        env={**os.environ, "SQLA_LINT_CACHE_DIR": str(env_dir)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1 and "SQA401" in result.stdout
    assert not env_dir.exists()


def test_cache_lives_in_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SQLA_LINT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "pkg").mkdir()
    assert default_cache_dir([str(root / "pkg")]) == (root / ".sqla_lint_cache").resolve()
    assert default_cache_dir([str(tmp_path / "elsewhere.py")]) == tmp_path / "xdg" / "sqla-lint"


def test_cli_second_run_is_read_from_the_cache(tmp_path: Path):
    root = _project(tmp_path)
    first = run_cli("check", str(root))
    second = run_cli("check", str(root))
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout


def test_configured_factories_key_the_cache(tmp_path: Path, counted: list[str]):
    root = tmp_path / "project"
    root.mkdir()
    (root / "uses_factory.py").write_text("from app.db import get_db\n\ndef f():\n    db = get_db()\n    return db.query(1).all()\n")
    plain = dict(_run(root, Settings(), ResultCache(tmp_path / "cache", Settings())))
    configured = Settings(factories=FactoryConfig(session_factories=frozenset({"app.db.get_db"})))
    with_factory = dict(_run(root, configured, ResultCache(tmp_path / "cache", configured)))
    assert plain["uses_factory.py"] == () and with_factory["uses_factory.py"] != ()


def test_a_skipped_file_stays_skipped_when_read_back(tmp_path):
    """Found by merging: the cache predated `FileResult.skipped` and dropped it."""
    from sqla_lint.diagnostics import FileResult

    result = FileResult("big.py", skipped="5.0 MiB is over the 1 MiB size limit")
    cache = ResultCache(tmp_path, Settings())
    cache.put("big.py", "big", "", "digest", result)
    cache.save()
    assert ResultCache(tmp_path, Settings()).get("big.py", "big", "", "digest") == result


def test_runs_merge_what_they_store(tmp_path: Path, counted: list[str]):
    """Two runs over different folders with one cache: the second keeps the first's entries."""
    first, second = tmp_path / "first", tmp_path / "second"
    for root in (first, second):
        root.mkdir()
        (root / "leak.py").write_text(LEAK)
    cache_dir = tmp_path / "cache"
    _run(first, Settings(), ResultCache(cache_dir, Settings()))
    _run(second, Settings(), ResultCache(cache_dir, Settings()))
    counted.clear()
    _run(first, Settings(), ResultCache(cache_dir, Settings()))
    _run(second, Settings(), ResultCache(cache_dir, Settings()))
    assert counted == []


def test_a_warm_run_does_not_write(tmp_path: Path):
    root = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    _run(root, Settings(), ResultCache(cache_dir, Settings()))
    manifest = _manifest(cache_dir)
    os.utime(manifest, ns=(0, 0))
    _run(root, Settings(), ResultCache(cache_dir, Settings()))
    assert manifest.stat().st_mtime_ns == 0


def test_a_truncated_cache_is_a_miss_and_is_rewritten_whole(tmp_path: Path, counted: list[str]):
    """A run killed while another process wrote the cache, or a full disk, can leave the
    cache cut short. It is read as a miss: the files are linted again, reported the same,
    and the cache is written whole again, so the run after that reads it."""
    root = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    expected = _run(root, Settings(), ResultCache(cache_dir, Settings()))
    manifest = _manifest(cache_dir)
    whole = manifest.read_bytes()
    assert len(json.loads(whole)["files"]) == 2
    manifest.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError):
        json.loads(manifest.read_bytes())
    counted.clear()
    assert _run(root, Settings(), ResultCache(cache_dir, Settings())) == expected
    assert sorted(counted) == ["clean.py", "leak.py"]
    assert manifest.read_bytes() == whole
    counted.clear()
    assert _run(root, Settings(), ResultCache(cache_dir, Settings())) == expected
    assert counted == []


def test_new_content_with_the_same_size_and_mtime_is_linted_again(tmp_path: Path, counted: list[str]):
    """The cache is keyed by content, not by stat: an edit that keeps the size and the
    modification time (a checkout, a tool that restores mtimes, a coarse clock) must not
    be answered from the cache. Here a clean file becomes a leak; a stale hit would hide it."""
    root = tmp_path / "project"
    root.mkdir()
    fixed = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    with Session(engine) as s:\n        return s.query(1).all()\n"
    leak = LEAK + "#" * (len(fixed) - len(LEAK) - 1) + "\n"
    assert len(leak) == len(fixed) and leak != fixed
    target = root / "module.py"
    target.write_text(fixed)
    before = target.stat()
    cache_dir = tmp_path / "cache"
    assert dict(_run(root, Settings(), ResultCache(cache_dir, Settings())))["module.py"] == ()
    target.write_text(leak)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    counted.clear()
    findings = dict(_run(root, Settings(), ResultCache(cache_dir, Settings())))["module.py"]
    assert counted == ["module.py"]
    assert [code for code, _, _ in findings] == ["SQA401"]


@pytest.mark.parametrize(
    "mode",
    [
        ["check"],
        ["check", "--fix"],
        ["check", "--diff"],
        ["check", "-", "--stdin-filename", "leak.py"],
        ["check", "--fix", "-", "--stdin-filename", "leak.py"],
    ],
)
def test_no_cache_writes_no_cache_anywhere(tmp_path: Path, mode: list[str]):
    """Neither the result cache nor the project index's cache, in the project or the cache
    directory: ``--fix`` and ``--diff`` used to write ``.sqla_lint_cache/`` into the project."""
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    env_dir = tmp_path / "cache"
    stdin = LEAK if "-" in mode else None
    result = subprocess.run(
        [sys.executable, "-m", "sqla_lint", *mode, "--no-cache", *([] if stdin else [str(root)])],
        cwd=root, input=stdin, env={**os.environ, "SQLA_LINT_CACHE_DIR": str(env_dir)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode in (0, 1) and "1 error" in result.stdout + result.stderr, result
    assert not env_dir.exists()
    assert not (root / ".sqla_lint_cache").exists()
