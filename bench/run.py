"""Run every ``bench/bench_*.py`` against real services and rewrite ``docs/benchmarks.md``.

Each benchmark gets a throwaway PostgreSQL database (migrated for the components it names) and a
private bus namespace (exchange and queue prefix); both are removed afterwards, whatever happens.

    .venv/bin/python bench/run.py            # what `make bench` runs

Before anything runs, it checks that the programs the chosen benchmarks run (their ``PROGRAMS``,
e.g. wrk and nginx) are installed, and stops naming the packages to install if not.

Environment: BENCH_DATABASE_URL (an admin connection; default the local PostgreSQL),
BENCH_BROKER_URL (default the local RabbitMQ), BENCH_REPEATS (default 3), and whatever the
benchmarks read themselves (BENCH_EVENTS, ...).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from harness import BenchContext, Result, format_number
from kombu import Connection

from spectral_shared.component import installed_components
from spectral_shared.config import Settings, sqlalchemy_url
from spectral_shared.logging import configure_logging
from spectral_shared.testing.plugin import BusNamespace
from spectral_shared.tracing import configure_tracing

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass(frozen=True)
class Section:
    module: ModuleType
    results: list[Result]
    seconds: float


def discover() -> list[ModuleType]:
    return [importlib.import_module(path.stem) for path in sorted(BENCH_DIR.glob("bench_*.py"))]


# Where Debian keeps programs such as nginx, off an ordinary user's PATH.
SYSTEM_DIRS = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin"])


def installed(program: str) -> bool:
    return bool(shutil.which(program) or shutil.which(program, path=SYSTEM_DIRS))


def missing_programs(modules: Sequence[ModuleType]) -> dict[str, str]:
    """The programs the benchmarks run that are not installed, with their Debian packages."""
    missing: dict[str, str] = {}
    for module in modules:
        for program, package in getattr(module, "PROGRAMS", {}).items():
            if not installed(program):
                missing[program] = package
    return missing


def admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(
        sqlalchemy_url(url), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


@contextlib.contextmanager
def provision(
    components: Sequence[str], admin: sa.Engine, broker_url: str, repeats: int
) -> Iterator[BenchContext]:
    """A migrated throwaway database and a private bus namespace, removed on exit."""
    tag = f"b{uuid.uuid4().hex[:10]}"
    database = f"spectral_bench_{tag}"
    namespace = BusNamespace(exchange=f"spectral.events.{tag}", queue_prefix=f"{tag}.")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    context: BenchContext | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="spectral-bench-") as var_dir:
            url = admin.url.set(database=database).render_as_string(hide_password=False)
            settings = Settings(
                spectral_env="test",
                var_dir=Path(var_dir),
                database_url=url,
                broker_url=broker_url,
                encryption_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                session_secret=secrets.token_urlsafe(32),
                **namespace.overrides,
            )
            context = BenchContext(settings, url, broker_url, namespace.queue_prefix, repeats)
            for name in components:
                context.runtime(name).migrate()
            yield context
    finally:
        if context is not None:
            context.close()
            namespace.extra_queues += context.extra_queues
        delete_namespace(namespace, broker_url)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def delete_namespace(namespace: BusNamespace, broker_url: str) -> None:
    with Connection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        for queue in namespace.queue_names(broker_url):
            with contextlib.suppress(Exception):  # never declared: nothing to delete
                channel.queue_delete(queue)
        channel.exchange_delete(namespace.exchange)


# ---- the machine and the services ------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def git_commit() -> str:
    def git(*args: str) -> str:
        # --no-optional-locks: reading the status must not even refresh the index.
        return subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def postgres_version(admin: sa.Engine) -> str:
    with admin.connect() as conn:
        return str(conn.execute(sa.text("SHOW server_version")).scalar())


def rabbitmq_version(broker_url: str) -> str:
    with Connection(broker_url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        version = conn.connection.server_properties.get("version", "unknown")
    return version.decode() if isinstance(version, bytes) else str(version)


def machine(admin: sa.Engine, broker_url: str) -> list[tuple[str, str]]:
    load = " ".join(_read("/proc/loadavg").split()[:3]) or "unknown"
    return [
        ("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Commit", git_commit()),
        ("CPU", cpu_model()),
        ("Cores", str(os.cpu_count())),
        ("Memory", memory()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("PostgreSQL", postgres_version(admin)),
        ("RabbitMQ", rabbitmq_version(broker_url)),
        ("Load average at start (1, 5, 15 min)", load),
    ]


# ---- the report ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(header: list[tuple[str, str]], sections: list[Section], repeats: int) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand, rerun it.",
        "",
        "| Machine and run | |",
        "|---|---|",
        *(f"| {key} | {_cell(value)} |" for key, value in header),
        "",
        f"Every figure is the median of {repeats} runs. Its baseline is measured in the same run, "
        "on the same machine and services, with the same data; ratio = figure / baseline. The "
        "machine may be running other work, so compare ratios rather than absolute values "
        "across runs.",
        "",
    ]
    for section in sections:
        module = section.module
        title = getattr(module, "TITLE", module.__name__)
        knobs: dict[str, object] = getattr(module, "parameters", dict)()
        sized = "".join(f", {name}={value}" for name, value in knobs.items())
        lines += [
            f"## {title}",
            "",
            f"`bench/{module.__name__}.py`{sized}; took {section.seconds:.0f} s.",
            "",
        ]
        if module.__doc__:
            lines += [module.__doc__.strip(), ""]
        lines += ["| Figure | Value | Baseline | Ratio | Notes |", "|---|---|---|---|---|"]
        for r in section.results:
            value = f"{format_number(r.value)} {r.unit}"
            baseline = f"{format_number(r.baseline_value)} {r.unit}: {r.baseline_name}"
            lines.append(
                f"| {_cell(r.name)} | {value} | {_cell(baseline)} | "
                f"{format_number(r.ratio)}x | {_cell(r.note)} |"
            )
        lines.append("")
    lines += [
        "## How to reproduce",
        "",
        "With PostgreSQL, RabbitMQ and Redis running locally (see the README), run `make bench` "
        "(or `.venv/bin/python bench/run.py`). `BENCH_DATABASE_URL` (an admin connection: it "
        "creates and drops a database per benchmark) and `BENCH_BROKER_URL` point it elsewhere; "
        "`BENCH_REPEATS` (default 3) sets the runs per figure, and each section names the "
        "variables that size it.",
        "",
    ]
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the report to write")
    parser.add_argument(
        "--only", action="append", help="run just this benchmark (bench_audit, ...); repeatable"
    )
    args = parser.parse_args(argv)
    modules = [m for m in discover() if not args.only or m.__name__ in args.only]
    missing = missing_programs(modules)
    if missing:
        packages = " ".join(dict.fromkeys(missing.values()))
        print(
            f"bench: {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not installed; "
            f"install first (Debian/Ubuntu: apt-get install {packages}); nothing was run",
            file=sys.stderr,
        )
        return 2

    configure_logging("WARNING", stream=sys.stderr)
    # Spans are created as in a service process; exporting them is not what is measured.
    os.environ["OTEL_TRACES_EXPORTER"] = "none"
    configure_tracing("bench")
    for component in installed_components():
        # A per-service URL would send a component to a real database instead of the throwaway.
        os.environ.pop(f"{component.upper()}_DATABASE_URL", None)
        os.environ.pop(f"{component.upper()}_DATABASE_REPLICA_URL", None)
    os.environ.pop("DATABASE_REPLICA_URL", None)

    broker_url = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL)
    admin = admin_engine(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    try:
        header = machine(admin, broker_url)
    except Exception as exc:
        print(f"bench: PostgreSQL or RabbitMQ is not reachable: {exc}", file=sys.stderr)
        return 2

    sections: list[Section] = []
    for module in modules:
        print(f"bench: {module.__name__} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        with provision(getattr(module, "COMPONENTS", ()), admin, broker_url, repeats) as context:
            results = module.run(context)
        section = Section(module, results, time.monotonic() - started)
        sections.append(section)
        for r in results:
            print(
                f"  {r.name}: {format_number(r.value)} {r.unit} vs "
                f"{format_number(r.baseline_value)} ({format_number(r.ratio)}x)",
                file=sys.stderr,
            )
        print(f"  ({section.seconds:.0f} s)", file=sys.stderr, flush=True)
    admin.dispose()

    args.output.write_text(render(header, sections, repeats))
    print(f"bench: wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
