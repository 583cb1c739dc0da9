"""Installable as itself: what the docs tell users to install is what pyproject.toml builds.

The command is `sqla-lint`, but `sqla-lint` on the package index is an unrelated project, so
an install line that names it installs someone else's linter (or nothing). These tests read
every install line, `additional_dependencies` list and link that users copy from.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sqla_lint import DISTRIBUTION, DOCS_URL, HOMEPAGE, __version__

from .conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
README = REPO / "README.md"
DOCUMENTS = [
    README,
    *sorted((REPO / "docs").rglob("*.md")),
    *sorted((REPO / "examples").rglob("*.md")),
    REPO / ".pre-commit-hooks.yaml",
    REPO / ".ci" / "run",
]

INSTALL = re.compile(r"\b(?:pip3?|pipx|uv pip|uv tool|uv)\s+(?:install|add)\b([^`\n]*)")
OPTIONS_WITH_A_VALUE = {
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
    "--extra-index-url", "-f", "--find-links", "-t", "--target", "--python",
}
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_URL = re.compile(rf"^{re.escape(HOMEPAGE)}/(?:blob|tree)/main/([^#]*)(?:#(.*))?$")


def normalized(name: str) -> str:
    """PEP 503: the index treats `-`, `_` and `.` alike and ignores case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"not a requirement: {requirement!r}"
    return normalized(match[1])


def installed_by_commands(text: str) -> list[str]:
    """Names that `pip install ...` (pipx, uv) lines in `text` fetch from an index; local paths are skipped."""
    names = []
    for match in INSTALL.finditer(text):
        arguments = match[1].split("&&")[0].split(";")[0].split(" #")[0]
        try:
            tokens = shlex.split(arguments)
        except ValueError:
            tokens = arguments.split()
        takes_value = False
        for token in tokens:
            if takes_value:
                takes_value = False
            elif token in OPTIONS_WITH_A_VALUE:
                takes_value = True
            elif token.startswith(("-", ".", "/", "~")) or "://" in token or token.endswith((".whl", ".tar.gz")):
                continue
            else:
                names.append(requirement_name(token))
    return names


def _yaml_documents(path: Path, text: str) -> Iterator[object]:
    if path.suffix in (".yaml", ".yml"):
        yield yaml.safe_load(text)
    elif path.suffix == ".md":
        for block in re.findall(r"```ya?ml\n(.*?)```", text, re.DOTALL):
            yield yaml.safe_load(block)


def _additional_dependencies(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "additional_dependencies":
                yield from value
            else:
                yield from _additional_dependencies(value)
    elif isinstance(node, list):
        for item in node:
            yield from _additional_dependencies(item)


def installed_names(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    names = installed_by_commands(text)
    for document in _yaml_documents(path, text):
        names += [requirement_name(requirement) for requirement in _additional_dependencies(document)]
    return names


def _declared_requirements() -> set[str]:
    requirements = [*PROJECT["dependencies"], *(r for extra in PROJECT["optional-dependencies"].values() for r in extra)]
    return {requirement_name(requirement) for requirement in requirements}


def test_the_package_names_the_distribution_pyproject_builds():
    assert DISTRIBUTION == PROJECT["name"]
    assert PROJECT["urls"]["Homepage"] == HOMEPAGE
    assert PROJECT["urls"]["Documentation"] == DOCS_URL
    assert PROJECT["scripts"] == {"sqla-lint": "sqla_lint.cli:main"}
    assert PROJECT["entry-points"]["flake8.extension"] == {"SQA": "sqla_lint.flake8_plugin:SqlaLintPlugin"}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_install_lines_name_only_this_distribution_or_its_dependencies(path: Path):
    """Any other name is a package users would get instead of ours (`sqla-lint` is one)."""
    foreign = set(installed_names(path)) - {normalized(DISTRIBUTION)} - _declared_requirements()
    assert not foreign, f"{path.relative_to(REPO)} tells users to install {sorted(foreign)}; pyproject.toml builds {DISTRIBUTION}"


def test_readme_installs_the_distribution_for_every_route():
    """pip, the flake8 extra and pre-commit's flake8 route each name the distribution."""
    text = README.read_text(encoding="utf-8")
    assert Counter(installed_by_commands(text))[normalized(DISTRIBUTION)] >= 3  # pip, flake8 extra, CI
    assert f"pip install '{DISTRIBUTION}[flake8]'" in text
    assert normalized(DISTRIBUTION) in {requirement_name(r) for doc in _yaml_documents(README, text) for r in _additional_dependencies(doc)}


def test_the_scan_finds_every_install_form():
    """The scan above is not vacuous: each way the old README named a package is caught."""
    old = (
        "      - run: python -m pip install sqla-lint\n"
        "pip install 'sqla-lint[flake8]'\n"
        "    - pip3 install sqla_lint==0.1 --upgrade\n"
        "python3 -m pip install -e . && sqla-lint check examples/shop\n"
        "`pipx install Sqla.Lint`\n"
        "uv tool install -q sqla-lint>=0.1 # the CLI\n"
    )
    assert installed_by_commands(old) == ["sqla-lint"] * 5
    hooks = yaml.safe_load("repos:\n  - hooks:\n      - id: flake8\n        additional_dependencies: ['sqla-lint', 'flake8-bugbear>=24']\n")
    assert [requirement_name(r) for r in _additional_dependencies(hooks)] == ["sqla-lint", "flake8-bugbear"]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def _check_target(source: Path, target: Path, anchor: str | None) -> None:
    assert target.exists(), f"{source.relative_to(REPO)} links to {target.relative_to(REPO)}, which does not exist"
    if anchor:
        assert target.suffix == ".md" and anchor in _anchors(target), f"{source.relative_to(REPO)} links to #{anchor} in {target.relative_to(REPO)}"


def test_readme_links_work_on_the_package_index_too():
    """The README is the index's project page, where relative links break: links into the repository are absolute."""
    for url in LINK.findall(README.read_text(encoding="utf-8")):
        if url.startswith("#"):
            _check_target(README, README, url[1:])
        elif url.startswith(HOMEPAGE + "/"):
            match = REPO_URL.match(url)
            assert match, f"README links to {url}, which is not a file on the main branch"
            _check_target(README, REPO / match[1], match[2])
        else:
            assert "://" in url, f"README has a relative link {url}; it breaks on the package index"


@pytest.mark.parametrize("page", sorted((REPO / "docs").glob("*.md")), ids=lambda path: path.name)
def test_docs_links_resolve(page: Path):
    for url in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in url:
            continue
        target, _, anchor = url.partition("#")
        _check_target(page, (page.parent / target).resolve() if target else page, anchor or None)


def test_every_docs_page_is_linked_from_the_readme_or_the_docs_index():
    linked = {url.rsplit("/", 1)[-1].partition("#")[0] for url in LINK.findall(README.read_text(encoding="utf-8")) if "/docs/" in url}
    linked |= {url.partition("#")[0] for url in LINK.findall((REPO / "docs" / "README.md").read_text(encoding="utf-8"))}
    pages = {page.name for page in (REPO / "docs").glob("*.md")} - {"README.md"}
    assert pages <= linked, f"docs pages nobody links to: {sorted(pages - linked)}"


def test_readme_has_each_section_once():
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert [heading for heading, count in Counter(headings).items() if count > 1] == []
    for section in ("Getting started", "Rules", "Command line", "flake8", "pre-commit", "CI", "Development"):
        assert section in headings


def test_ci_runs_exactly_the_readmes_test_command():
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("python3 -m pip install -e ")]
    assert commands == [
        "python3 -m pip install -e . && sqla-lint check examples/shop",
        "python3 -m pip install -e '.[test]' && python3 -m pytest",
    ]
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == commands[1]


def test_version_names_the_distribution_and_the_docs(cli):
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sqla-lint {__version__} (pip install {DISTRIBUTION})\ndocumentation: {DOCS_URL}\n"


@pytest.mark.parametrize("command", [["--help"], ["check", "--help"]], ids=" ".join)
def test_help_names_the_distribution_and_the_docs(cli, command: list[str]):
    result = cli(*command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f"\ninstall: pip install {DISTRIBUTION}\ndocumentation: {DOCS_URL}\n"), result.stdout
