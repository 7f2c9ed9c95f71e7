"""Benchmark the hot path: ``GET /api/v1/pools/{id}/`` with a token, served as in production.

Run from the repository root with PostgreSQL and Redis up::

    python bench/bench_hot_path.py [--database-url postgres://postgres@127.0.0.1:5432/postgres]
                                   [--redis-url redis://127.0.0.1:6379/14]

It creates a scratch database (dropped and re-created on each run), migrates it as the
owner role, creates an ordinary login role with the application's privileges (row-level
security binds it, as deploy/RUNBOOK.md sets up production), seeds one organization with a
/8 and 1,000 child pools and a bearer token, then serves CloudPAM with gunicorn
(``cloudpam/gunicorn_conf.py``, 2 sync workers, the production settings, Redis for the cache
and the rate limits) and measures, with a closed-loop client of 8 connections:

- pool detail requests/s and latency (p50, p95) with the token;
- the ceiling of the same process setup: the same gunicorn, settings and database role,
  with a URLconf holding one bare Django view and no middleware (``bench/bare_wsgi.py``);
- for both, the CPU the gunicorn workers spent per request (from /proc; PostgreSQL backends
  of the scratch database are added when this host's /proc shows them), which other load
  on the machine moves far less than requests/s.

Targets (issue 16): pool detail >= 50% of the ceiling measured in the same run, and
>= 500 requests/s with 2 workers. The client runs on the same machine and takes CPU from the
workers, as it did for the figures the targets came from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "cloudpam_bench_hot_path"
APP_ROLE = "cloudpam_bench_app"
CHILDREN = 1_000
CONCURRENCY = 8
WARMUP_SECONDS = 3.0
RUN_SECONDS = 15.0
RATIO_TARGET = 0.5
RPS_TARGET = 500.0

SEED = """
import json, os
from apps.pools import services as pools
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.rls import tenant_context
from apps.tenancy.services import api_token_create, organization_create
from cloudpam.context import actor_from

owner = User.objects.create_user("owner@bench.invalid", "unused-password-123", is_staff=True)
organization = organization_create(name="Hot path", creator=owner)
# The benchmark must measure serving, not the limits it would hit at these rates.
Organization.objects.filter(pk=organization.pk).update(
    quotas={"max_api_calls_per_minute": 10_000_000},
    settings={**organization.settings, "rate_limit_per_minute": 10_000_000},
)
organization.refresh_from_db()
with tenant_context(organization):
    actor = actor_from(user=owner)
    root = pools.pool_create(organization=organization, actor=actor, name="root", cidr="10.0.0.0/8")
    detail = None
    for index in range({children}):
        detail = pools.pool_create(
            organization=organization, actor=actor, name=f"net-{index}",
            cidr=f"10.{index // 256}.{index % 256}.0/24", parent=root,
        )
    membership = Membership.objects.get(user=owner, organization=organization)
    _token, value = api_token_create(
        membership=membership, name="bench", scopes=["read"], actor=owner
    )
print(json.dumps({"token": value, "pool": detail.pk}))
"""


def _database_url(base: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(base)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user is not None:
        netloc = f"{user}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def prepare_database(admin_url: str) -> tuple[str, str]:
    """Create the scratch database and the application role; return (owner url, app url)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
        exists = connection.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS')
    owner_url = _database_url(admin_url, DATABASE)
    with psycopg.connect(owner_url, autocommit=True) as connection:
        # The grants of deploy/RUNBOOK.md, for tables the migrations are about to create.
        connection.execute(f'GRANT USAGE ON SCHEMA public TO "{APP_ROLE}"')
        connection.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{APP_ROLE}"'
        )
        connection.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f'GRANT USAGE, SELECT ON SEQUENCES TO "{APP_ROLE}"'
        )
    return owner_url, _database_url(admin_url, DATABASE, APP_ROLE)


def server_environment(database_url: str, redis_url: str, workdir: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        DJANGO_SETTINGS_MODULE="cloudpam.settings.production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        CLOUDPAM_VAR_DIR=str(workdir),
        CLOUDPAM_ENCRYPTION_KEYS=environment.get("CLOUDPAM_ENCRYPTION_KEYS")
        or "bench-only-" + secrets.token_urlsafe(32),
        LOG_LEVEL="INFO",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
        PYTHONPATH=str(ROOT),
        STATIC_ROOT=str(workdir / "static"),
    )
    return environment


def run_manage(environment: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn with the production configuration, 2 workers, on a free port."""

    def __init__(self, application: str, environment: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = Path(environment["CLOUDPAM_VAR_DIR"]) / f"gunicorn-{self.port}.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "cloudpam" / "gunicorn_conf.py"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-tmp-dir",
                str(Path(environment["CLOUDPAM_VAR_DIR"])),
                # The benchmark counts requests, and worker recycling would count as noise.
                "--max-requests",
                "0",
                application,
            ],
            env=environment,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def wait_ready(self, path: str, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.stderr.write(self.log_path.read_text()[-4000:])
                raise SystemExit(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _ = asyncio.run(_request(self.port, path, headers))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def _request(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response


async def _load(
    port: int, path: str, headers: dict[str, str], seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status, _ = await _request(port, path, headers)
            if status != 200:
                errors += 1
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return latencies, errors


def _cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds ``pid`` has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serving_processes(master: int) -> list[int]:
    """Return the gunicorn workers of ``master`` and any PostgreSQL backend of the database."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master or (command.startswith("postgres:") and DATABASE in command):
            found.append(int(entry.name))
    return found


def server_cpu(master: int) -> dict[int, float]:
    """Return the CPU seconds of each process serving the benchmark (Linux /proc; else none)."""
    if not Path("/proc").is_dir():
        return {}
    return {pid: _cpu_seconds(pid) for pid in _serving_processes(master)}


def measure(server: Server, path: str, headers: dict[str, str]) -> dict[str, float]:
    server.wait_ready(path, headers)
    asyncio.run(_load(server.port, path, headers, WARMUP_SECONDS))
    cpu_before = server_cpu(server.process.pid)
    started = time.perf_counter()
    latencies, errors = asyncio.run(_load(server.port, path, headers, RUN_SECONDS))
    elapsed = time.perf_counter() - started
    cpu_after = server_cpu(server.process.pid)
    # CPU the serving processes spent per request: other work sharing the machine moves it
    # far less than requests/s.
    cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    if errors:
        raise SystemExit(f"{errors} of {len(latencies)} requests to {path} did not answer 200")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95)] * 1000,
        "count": len(latencies),
        "cpu_ms": cpu / max(len(latencies), 1) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL superuser connection, used to create the scratch database and role",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    arguments = parser.parse_args()

    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="cloudpam-hot-path-"))
    (workdir / "prometheus").mkdir()
    owner_url, app_url = prepare_database(arguments.database_url)
    owner_environment = server_environment(owner_url, arguments.redis_url, workdir)
    run_manage(owner_environment, "migrate", "--verbosity", "0")
    run_manage(owner_environment, "collectstatic", "--noinput", "--verbosity", "0")
    import json

    seeded = json.loads(
        run_manage(
            owner_environment,
            "shell",
            "--no-startup",
            stdin=SEED.replace("{children}", str(CHILDREN)),
        )
        .strip()
        .splitlines()[-1]
    )
    # A production database has its statistics (autovacuum analyzes); a freshly seeded one has
    # none, and the planner then reads the pool through the organization's index instead of
    # its primary key, which costs the backend a third more CPU per request.
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute("ANALYZE")
    environment = server_environment(app_url, arguments.redis_url, workdir)
    headers = {"Authorization": f"Bearer {seeded['token']}", "Accept": "application/json"}

    results: dict[str, dict[str, float]] = {}
    for label, application, path, request_headers in (
        ("pool detail", "cloudpam.wsgi:application", f"/api/v1/pools/{seeded['pool']}/", headers),
        ("bare Django view", "bench.bare_wsgi:application", "/bare/", {}),
    ):
        server = Server(application, environment)
        try:
            results[label] = measure(server, path, request_headers)
        finally:
            server.stop()

    print(f"hot path, gunicorn 2 workers, {CONCURRENCY} connections, {RUN_SECONDS:.0f} s each:")
    for label, figures in results.items():
        print(
            f"  {label:<17} {figures['rps']:8.0f} requests/s   p50 {figures['p50']:6.2f} ms"
            f"   p95 {figures['p95']:6.2f} ms   ({figures['count']:.0f} requests)"
            f"   server CPU {figures['cpu_ms']:.2f} ms/request"
        )
    print("  load average (1, 5, 15 min): " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    ratio = results["pool detail"]["rps"] / results["bare Django view"]["rps"]
    rps = results["pool detail"]["rps"]
    sys.path.insert(0, str(ROOT / "bench"))
    from _report import report

    report("pool detail / bare Django ceiling", ratio * 100, "%", ">= 50 %", ratio >= RATIO_TARGET)
    report("pool detail throughput", rps, "requests/s", ">= 500", rps >= RPS_TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
