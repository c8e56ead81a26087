"""`python -m bench.replicas [--replicas 1,2,3] [--seconds 15] [--clients 24]`: launches per
second through 1, 2 and 3 `flowport serve` replicas on one scratch PostgreSQL database, and
the ratio to one replica; also the launch latency, errors, and the database connections the
replicas held. The load is closed-loop: `--clients` threads, each starting the
straight-through bench diagram (3 script tasks) on the next replica in turn, as a round-robin
load balancer would. On a machine with fewer cores than replicas the replicas share the CPUs
and the ratio says so: read it together with the core count printed beside it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench import diagram, inprocess, latency
from bench.report import load_average, progress

ROOT = Path(__file__).parent.parent


@dataclass
class Run:
    replicas: int
    seconds: float
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    connections: int = 0
    server_cpu: float = 0.0  # CPU seconds all replicas used in the measured window

    @property
    def cpu_ms_per_launch(self) -> float:
        return self.server_cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds

    def ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def start_replica(stack: ExitStack, database_url: str, token: str, workdir: Path
                  ) -> latency.Server:
    port = latency.free_port()
    log = workdir / f"serve-{port}.log"
    env = {**os.environ, "FLOWPORT_BOOTSTRAP_ADMIN_TOKEN": token,
           "FLOWPORT_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "flowport.cli", "serve", "--host", latency.HOST,
               "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   cwd=workdir)
    server = latency.Server(process, port, token, log, "flowport serve")
    stack.callback(latency.stop, process)
    latency.wait_ready(server, 120)
    return server




def database_connections(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            count: int = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalar_one()
            return count
    finally:
        engine.dispose()


def load(servers: list[latency.Server], database_url: str, clients: int, seconds: float,
         warmup: float) -> Run:
    run = Run(len(servers), seconds)
    lock = threading.Lock()
    begin = time.monotonic() + warmup
    end = begin + seconds
    path = f"/api/v1/processes/{diagram.PROCESS_KEY}/instances"
    body = {"variables": diagram.variables(0)}

    def client(n: int) -> None:
        sessions = [httpx.Client(base_url=s.url, timeout=30, headers={
            "Authorization": f"Bearer {s.token}"}) for s in servers]
        turn = n
        try:
            while (now := time.monotonic()) < end:
                turn += 1
                try:
                    response = sessions[turn % len(sessions)].post(path, json=body)
                    good = response.status_code == 201
                except httpx.HTTPError:
                    good = False
                took = time.monotonic() - now
                if now >= begin:
                    with lock:
                        if good:
                            run.ok += 1
                            run.latencies.append(took)
                        else:
                            run.errors += 1
        finally:
            for session in sessions:
                session.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    def cpu() -> float:
        return sum(s.cpu_seconds() or 0.0 for s in servers)

    time.sleep(max(0.0, begin - time.monotonic()))
    cpu_at_begin = cpu()
    time.sleep(seconds / 2)
    run.connections = database_connections(database_url)
    time.sleep(max(0.0, end - time.monotonic()))
    run.server_cpu = cpu() - cpu_at_begin
    for thread in threads:
        thread.join()
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", default="1,2,3", help="replica counts to measure")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=24, help="concurrent launch loops")
    parser.add_argument("--postgres-url", default=inprocess.pg_admin_url())
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.replicas.split(",")]
    token = f"bench-{secrets.token_hex(16)}"
    runs: list[Run] = []
    load_before = load_average()
    with inprocess.postgres_url(args.postgres_url) as url, \
            tempfile.TemporaryDirectory(prefix="flowport-bench-replicas-") as tmp:
        if url is None:
            return 2
        for count in counts:
            progress(f"{count} replica(s): starting")
            with ExitStack() as stack:
                servers = [start_replica(stack, url, token, Path(tmp)) for _ in range(count)]
                if not runs:
                    latency.deploy(servers[0])
                progress(f"{count} replica(s): {args.clients} clients for {args.seconds:g} s")
                runs.append(load(servers, url, args.clients, args.seconds, args.warmup))
    base = runs[0].per_second if runs else 0.0
    print(f"\nlaunches through N replicas on one PostgreSQL ({os.cpu_count()} CPUs, "
          f"{args.clients} clients, straight-through diagram with "
          f"{diagram.SCRIPT_TASKS} script tasks; load average before {load_before})")
    print(f"{'replicas':>8} {'launches/s':>11} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'db conns':>9} {'server CPU ms/launch':>21}")
    for run in runs:
        ratio = run.per_second / base if base else float("nan")
        print(f"{run.replicas:>8} {run.per_second:>11.1f} {ratio:>6.2f} {run.ms(50):>8.1f} "
              f"{run.ms(99):>8.1f} {run.errors:>7} {run.connections:>9} "
              f"{run.cpu_ms_per_launch:>21.2f}")
    if runs:
        print(f"median per replica: "
              f"{statistics.median(r.per_second / r.replicas for r in runs):.1f} launches/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
