"""A release that builds: the sdist and the wheel, as `python -m build` makes them, checked and installed.

This runs in the README's test command (and so in CI) rather than as extra CI steps, so a
developer who runs the tests finds a broken release before CI does. The wheel is built
from the sdist, as `build` does by default, so a file the sdist leaves out breaks the wheel
too. The wheel is then installed with its `flake8` extra into a fresh virtual environment
(dependencies from the package index, nothing from this checkout) and runs the README's
example commands there; their findings must be the ones this checkout reports.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

from sqla_lint import DISTRIBUTION, __version__

from .conftest import REPO, run_cli

pytestmark = pytest.mark.slow

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
STEM = f"{DISTRIBUTION.replace('-', '_')}-{__version__}"
# Left out of the copy the release is built from: what a working tree has that git does not track.
UNTRACKED = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
PACKAGE_FILES = sorted(path.relative_to(REPO / "src").as_posix() for path in (REPO / "src" / "sqla_lint").rglob("*") if path.suffix in (".py", ".typed"))


def _run(command: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A subprocess that sees neither this checkout's sources nor this test run's virtual environment."""
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "GITHUB_ACTIONS")}
    return subprocess.run([str(part) for part in command], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("release") / "source"
    shutil.copytree(REPO, source, ignore=UNTRACKED)
    out = source.parent / "dist"
    built = _run([sys.executable, "-m", "build", "--outdir", out, source], cwd=source.parent)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == [f"{STEM}-py3-none-any.whl", f"{STEM}.tar.gz"]
    return out


def _metadata(text: str) -> Message:
    return Parser().parsestr(text)


def _wheel_metadata(dist: Path) -> Message:
    with zipfile.ZipFile(dist / f"{STEM}-py3-none-any.whl") as wheel:
        return _metadata(wheel.read(f"{STEM}.dist-info/METADATA").decode())


def _sdist_metadata(dist: Path) -> Message:
    with tarfile.open(dist / f"{STEM}.tar.gz") as sdist:
        member = sdist.extractfile(f"{STEM}/PKG-INFO")
        assert member is not None
        return _metadata(member.read().decode())


@pytest.mark.parametrize("read", [_wheel_metadata, _sdist_metadata], ids=["wheel", "sdist"])
def test_metadata_is_what_pyproject_declares(dist: Path, read):
    """What `twine check` checks (a long description the index can render), and that it says what pyproject.toml says."""
    metadata = read(dist)
    assert tuple(int(part) for part in metadata["Metadata-Version"].split(".")) >= (2, 1)
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["Version"] == __version__
    assert metadata["Summary"] == PROJECT["description"]
    assert metadata["Requires-Python"] == PROJECT["requires-python"]
    assert metadata["License-Expression"] == PROJECT["license"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (REPO / "README.md").read_text(encoding="utf-8").strip()
    assert sorted(metadata.get_all("Provides-Extra")) == sorted(PROJECT["optional-dependencies"])
    runtime = [requirement for requirement in metadata.get_all("Requires-Dist") if "extra ==" not in requirement]
    assert runtime == PROJECT["dependencies"]
    assert sorted(metadata.get_all("Project-URL")) == sorted(f"{label}, {url}" for label, url in PROJECT["urls"].items())
    assert set(PROJECT["classifiers"]) <= set(metadata.get_all("Classifier"))


def test_wheel_holds_the_package_and_a_record_that_matches_it(dist: Path):
    with zipfile.ZipFile(dist / f"{STEM}-py3-none-any.whl") as wheel:
        names = wheel.namelist()
        packaged = sorted(name for name in names if not name.startswith(f"{STEM}.dist-info/"))
        assert packaged == PACKAGE_FILES, "the wheel holds other files than src/sqla_lint/ (tests? examples?), or misses some"
        entry_points = wheel.read(f"{STEM}.dist-info/entry_points.txt").decode()
        assert "[console_scripts]\nsqla-lint = sqla_lint.cli:main" in entry_points
        assert "[flake8.extension]\nSQA = sqla_lint.flake8_plugin:SqlaLintPlugin" in entry_points
        assert wheel.read(f"{STEM}.dist-info/WHEEL").decode().count("Tag: py3-none-any") == 1
        record = {row[0]: row[1] for row in csv.reader(io.StringIO(wheel.read(f"{STEM}.dist-info/RECORD").decode()))}
        assert set(record) == set(names)
        for name in names:
            if name != f"{STEM}.dist-info/RECORD":
                digest = base64.urlsafe_b64encode(hashlib.sha256(wheel.read(name)).digest()).rstrip(b"=").decode()
                assert record[name] == f"sha256={digest}", name


def test_sdist_holds_the_sources_the_wheel_is_built_from(dist: Path):
    with tarfile.open(dist / f"{STEM}.tar.gz") as sdist:
        names = {name.removeprefix(f"{STEM}/") for name in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= names
    assert {f"src/{name}" for name in PACKAGE_FILES} <= names


def _findings(output: str) -> list[str]:
    """`path:row:col: CODE message` lines, as the CLI's concise format and flake8 both print them."""
    return sorted(line for line in output.splitlines() if line.startswith("examples/shop/"))


def test_wheel_installed_alone_runs_the_readme_commands(dist: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    installed = _run([python, "-m", "pip", "install", "--quiet", f"{dist / f'{STEM}-py3-none-any.whl'}[flake8]"], cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    located = _run([python, "-c", "import sqla_lint; print(sqla_lint.__file__)"], cwd=REPO)
    assert Path(located.stdout.strip()).is_relative_to(venv), "the fresh environment imports this checkout, not the wheel"
    version = _run([bin_dir / "sqla-lint", "--version"], cwd=REPO)
    assert version.returncode == 0 and version.stdout.startswith(f"sqla-lint {__version__} (pip install {DISTRIBUTION})"), version

    expected = run_cli("check", "examples/shop", cwd=REPO)
    assert expected.returncode == 1 and _findings(expected.stdout), expected.stderr
    check = _run([bin_dir / "sqla-lint", "check", "examples/shop"], cwd=REPO, SQLA_LINT_CACHE_DIR=str(tmp_path / "cache"))
    assert check.returncode == 1, check.stderr
    assert _findings(check.stdout) == _findings(expected.stdout)

    flake8 = _run([bin_dir / "flake8", "--select", "SQA", "examples/shop"], cwd=REPO, SQLA_LINT_CACHE_DIR=str(tmp_path / "cache"))
    assert flake8.returncode == 1, flake8.stderr
    assert _findings(flake8.stdout) == _findings(expected.stdout)
