"""Benchmark sqla-lint against ruff and flake8 on the pinned corpus, in one run.

Usage (from the repository, with sqla-lint and flake8 installed in the running Python,
as ``pip install -e '.[test]'`` does)::

    python benchmarks/bench.py [--runs 3] [--cache-dir DIR] [--skip-flake8]

What it does:

1. Fetches the corpus with :mod:`benchmarks.corpus` (``pip download --no-deps`` of three
   pinned wheels into a cache outside the repository, ``.py`` files extracted).
2. Installs ruff and flake8 (the same flake8 version as the running Python's) into a tools
   virtualenv inside that cache, so plain flake8 runs without the sqla-lint plugin.
   sqla-lint's own bytecode is written first, as ``pip install`` does for a wheel, so an
   editable install under ``PYTHONDONTWRITEBYTECODE`` does not time its import compiling.
3. Runs, ``--runs`` times and alternating so that load from other processes falls on every
   tool alike: ``sqla-lint check --no-cache`` (cold); the same with ``--ignore SQA001``
   (for information: files that cannot produce a rule finding then skip even the syntax
   check, CPython's parse of every file); ``sqla-lint check`` on a primed cache
   (warm); the same after touching one file (one with findings, so it goes through libcst);
   ``ruff check --no-cache --select ALL`` (``--output-format concise``: its default output
   renders a source excerpt for each of its ~160,000 findings, which would time the
   printing, not the linting); plain ``flake8 --select F``; ``flake8 --select F,SQA`` with
   the plugin. Output goes to /dev/null except where findings are counted.
4. Prints median wall times, the ratios to ruff's cold run, the plugin's overhead over
   plain flake8, the peak resident memory of each command's whole process tree (workers
   included, sampled from /proc every 20 ms), and the findings per rule of the CLI and of the
   plugin, so a speed-up that loses findings shows.

Exit code 0 when every target of the performance issue is met, 1 when one is missed, 2 when
the corpus or tools cannot be set up.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import CorpusError, count_tree, default_cache_dir, ensure_corpus  # noqa: E402

TARGETS = {
    "cold / ruff": 1.0,
    "warm / ruff": 0.25,
    "touched / ruff": 0.3,
    "flake8+plugin / flake8": 1.15,
}
RSS_LIMIT_MB = 300
_FINDING = re.compile(r"^[^:\n]+:\d+:\d+: (SQA\d{3}) ", re.MULTILINE)


@dataclass
class Measurement:
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(children.get(pid, ()))
    return found


def _rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * _PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    return total


def run(
    command: list[str], *, cwd: Path, env: dict[str, str] | None = None, capture: bool = False
) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system, workers included), peak tree RSS in MB, and
    stdout if captured."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        """Every 20 ms the known processes; every 200 ms a fresh look for new workers
        (a full /proc scan costs about 10 ms here, too much to repeat at 50 Hz)."""
        nonlocal peak
        tick, pids = 0, [process.pid]
        while not done.is_set():
            if tick % 10 == 0:
                pids = _descendants(process.pid)
            peak = max(peak, _rss_kb(pids))
            tick += 1
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0] if capture else ""
    if not capture:
        process.wait()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, peak / 1024, output.decode("utf-8", "replace") if capture else ""


def _tools(cache: Path, flake8_version: str | None) -> Path:
    """A virtualenv with ruff and plain flake8 (no sqla-lint plugin) inside the corpus cache."""
    tools = cache / "tools"
    python = tools / "bin" / "python"
    if not python.exists():
        venv.create(tools, with_pip=True)
    wanted = ["ruff"] + ([f"flake8=={flake8_version}"] if flake8_version else [])
    probe = subprocess.run([str(python), "-m", "pip", "show", "ruff", "flake8"], capture_output=True, text=True)
    installed = dict(re.findall(r"^Name: (\S+)\nVersion: (\S+)", probe.stdout, re.MULTILINE))
    if "ruff" not in installed or (flake8_version and installed.get("flake8") != flake8_version):
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted], check=True)
    return tools / "bin"


def _byte_compile_sqla_lint() -> None:
    """Write sqla-lint's bytecode, as ``pip install`` does for a wheel. From an editable
    install under ``PYTHONDONTWRITEBYTECODE`` (set in many CI images) every run would
    otherwise compile the package's modules again, which no installed user pays; ruff and
    flake8 come from a virtualenv whose installer compiled them."""
    import compileall

    import sqla_lint

    compileall.compile_dir(str(Path(sqla_lint.__file__).parent), quiet=1)


def _version(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True).stdout.strip().splitlines()[0]


def _mark_project(tree: Path) -> None:
    """Each wheel is a project, as its checkout would be: a ``pyproject.toml`` marks its
    root, so the flake8 plugin finds the same project (and builds the same index) as the
    CLI, which would otherwise fall back to the folder it was asked to walk. Without it the
    plugin runs with no project index: cheaper, and with fewer findings."""
    marker = tree / "pyproject.toml"
    if not marker.exists():
        marker.write_text(f'[project]\nname = "{tree.name}"\nversion = "0"\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (median reported; default 3)")
    parser.add_argument("--cache-dir", help="corpus and tools cache (default: ~/.cache/sqla-lint-bench)")
    parser.add_argument("--skip-flake8", action="store_true", help="skip the two flake8 commands (about a minute each)")
    args = parser.parse_args(argv)

    cache = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    try:
        trees = ensure_corpus(cache_dir=cache)
    except CorpusError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    try:
        flake8_version = metadata.version("flake8")
    except metadata.PackageNotFoundError:
        flake8_version = None
    if flake8_version is None and not args.skip_flake8:
        print("bench: flake8 is not installed in this Python; install '.[test]' or pass --skip-flake8", file=sys.stderr)
        return 2
    try:
        tools = _tools(cache, None if args.skip_flake8 else flake8_version)
    except (subprocess.CalledProcessError, OSError) as error:
        print(f"bench: cannot install ruff/flake8 into {cache / 'tools'}: {error}", file=sys.stderr)
        return 2

    _byte_compile_sqla_lint()
    root = next(iter(trees.values())).parent
    projects = sorted(path.name for path in trees.values())
    for path in trees.values():
        _mark_project(path)
    files = lines = 0
    for path in trees.values():
        counted = count_tree(path)
        files, lines = files + counted[0], lines + counted[1]

    scratch = Path(tempfile.mkdtemp(prefix="sqla-lint-bench-"))
    env = {**os.environ, "SQLA_LINT_CACHE_DIR": str(scratch / "cache")}
    sqla = [sys.executable, "-m", "sqla_lint", "check", "--exit-zero", *projects]
    commands = {
        "sqla-lint cold": (sqla + ["--no-cache"], True),
        "sqla-lint cold -SQA001": (sqla + ["--no-cache", "--ignore", "SQA001"], False),
        "ruff cold": (
            [str(tools / "ruff"), "check", "--no-cache", "--select", "ALL", "--exit-zero", "--output-format", "concise", *projects],
            False,
        ),
        "sqla-lint warm": (sqla, False),
        "sqla-lint touched": (sqla, False),
    }
    if not args.skip_flake8:
        commands["flake8"] = ([str(tools / "flake8"), "--select", "F", "--exit-zero", *projects], False)
        commands["flake8+plugin"] = ([sys.executable, "-m", "flake8", "--select", "F,SQA", "--exit-zero", *projects], True)

    print(f"corpus: {', '.join(projects)}: {files:,} files, {lines:,} lines, in {root}")
    print(f"sqla-lint {_version([sys.executable, '-m', 'sqla_lint', '--version'])}; {_version([str(tools / 'ruff'), '--version'])}", end="")
    print(f"; flake8 {flake8_version}" if not args.skip_flake8 else "")
    print(f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}; {args.runs} runs, alternating\n")

    results = {name: Measurement() for name in commands}
    outputs: dict[str, str] = {}
    touched_file: Path | None = None
    original = b""
    try:
        run(sqla, cwd=root, env=env)  # primes the cache for the warm runs
        for round_number in range(args.runs):
            for name, (command, capture) in commands.items():
                if name == "sqla-lint touched":
                    if touched_file is None:
                        touched_file = _file_with_findings(root, outputs.get("sqla-lint cold", ""))
                        original = touched_file.read_bytes()
                    touched_file.write_bytes(original + f"\n# touched {round_number}\n".encode())
                seconds, cpu, rss, output = run(command, cwd=root, env=env, capture=capture)
                results[name].seconds.append(seconds)
                results[name].cpu_seconds.append(cpu)
                results[name].peak_rss_mb.append(rss)
                if capture:
                    outputs[name] = output
                print(f"  round {round_number + 1}: {name:<24} {seconds:7.2f} s  cpu {cpu:7.2f} s  {rss:6.0f} MB", flush=True)
    finally:
        if touched_file is not None:
            touched_file.write_bytes(original)
        shutil.rmtree(scratch, ignore_errors=True)

    return _report(results, outputs, touched_file, root)


def _file_with_findings(root: Path, output: str) -> Path:
    for line in output.splitlines():
        if _FINDING.match(line):
            return root / line.split(":", 1)[0]
    return next(root.rglob("*.py"))


def _report(results: dict[str, Measurement], outputs: dict[str, str], touched: Path | None, root: Path) -> int:
    ruff = results["ruff cold"].median
    print("\nmedian wall time, median CPU time (user + system), peak RSS of the process tree (largest run):")
    for name, measured in results.items():
        print(f"  {name:<24} {measured.median:7.2f} s   cpu {measured.median_cpu:7.2f} s   {max(measured.peak_rss_mb):6.0f} MB")
    if touched is not None:
        print(f"  (touched: {touched.relative_to(root)})")

    ratios = {
        "cold / ruff": results["sqla-lint cold"].median / ruff,
        "warm / ruff": results["sqla-lint warm"].median / ruff,
        "touched / ruff": results["sqla-lint touched"].median / ruff,
    }
    ruff_cpu = results["ruff cold"].median_cpu
    cpu_ratios = {
        "cold / ruff": results["sqla-lint cold"].median_cpu / ruff_cpu,
        "warm / ruff": results["sqla-lint warm"].median_cpu / ruff_cpu,
        "touched / ruff": results["sqla-lint touched"].median_cpu / ruff_cpu,
    }
    if "flake8" in results:
        ratios["flake8+plugin / flake8"] = results["flake8+plugin"].median / results["flake8"].median
        cpu_ratios["flake8+plugin / flake8"] = results["flake8+plugin"].median_cpu / results["flake8"].median_cpu
    print("\nratios of wall time (target; in brackets the same ratio of CPU time, less sensitive to other load):")
    met = True
    for name, ratio in ratios.items():
        ok = ratio <= TARGETS[name]
        met &= ok
        print(f"  {name:<24} {ratio:5.2f}x  [{cpu_ratios[name]:5.2f}x]  (<= {TARGETS[name]}x)  {'met' if ok else 'MISSED'}")
    print(f"  {'cold --ignore SQA001 / ruff':<24} {results['sqla-lint cold -SQA001'].median / ruff:5.2f}x  (no target; skips the syntax check of files that cannot produce a rule finding)")
    if "flake8" in results:
        overhead = results["flake8+plugin"].median - results["flake8"].median
        print(f"  plugin overhead over plain flake8: {overhead:+.2f} s ({ratios['flake8+plugin / flake8'] - 1:+.1%})")
    sqla_rss = max(max(results[name].peak_rss_mb) for name in results if name.startswith("sqla-lint"))
    rss_ok = sqla_rss <= RSS_LIMIT_MB
    met &= rss_ok
    print(f"  sqla-lint peak RSS       {sqla_rss:5.0f} MB (<= {RSS_LIMIT_MB} MB)  {'met' if rss_ok else 'MISSED'}")

    print("\nfindings per rule:")
    cli = Counter(_FINDING.findall(outputs.get("sqla-lint cold", "")))
    plugin = Counter(_FINDING.findall(outputs.get("flake8+plugin", ""))) if "flake8+plugin" in outputs else None
    for code in sorted(set(cli) | set(plugin or ())):
        print(f"  {code}  cli {cli[code]:4}" + (f"   flake8 plugin {plugin[code]:4}" if plugin is not None else ""))
    print(f"  total   cli {sum(cli.values()):4}" + (f"   flake8 plugin {sum(plugin.values()):4}" if plugin is not None else ""))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
