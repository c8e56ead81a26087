"""`python -m bench [--quick] [--only a|b|c] [--json]`: run the benchmarks, print one table.

Exit status: 0 when everything ran (missed targets are reported, not fatal, unless --strict);
1 with --strict and a missed target; 2 when a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench import breakdown, diagram, inprocess, latency, robots
from bench.report import Measure, Report, load_average, progress

RAW = "raw SpiffWorkflow, in memory"
ENGINE = "Flowport Engine.start, in memory"
ISOLATED = "Flowport Engine.start, in memory, scripts in workers"
IN_THREAD = "Flowport Engine.start, in memory, same scripts in-thread"
ISOLATION_COST = "script isolation cost per script task"
SQLITE_TARGET = 0.50
P50_TARGET_MS = 5.0
P99_TARGET_MS = 25.0
CLAIM_P99_TARGET_MS = 50.0
BUSY_LOAD = 0.7  # a 1-minute load average this high means something else shared the CPUs


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs: part (a) runs every workload for `rounds` rounds,
    interleaved, so a change in background load hits all of them alike; each reports the
    median round. Seconds are per round."""

    rounds: int
    raw: float
    engine: float
    durable: float
    commits: float
    warmup: float  # seconds of untimed calls of each workload first
    http: float
    http_warmup: float
    http_floor: float  # GET /healthz at the same rate, for comparison
    claims: int  # part (c): start -> claim samples
    drain_jobs: int
    drain_robots: int

    @classmethod
    def default(cls) -> Plan:
        return cls(rounds=5, raw=0.8, engine=0.8, durable=1.2, commits=0.5, warmup=0.3,
                   http=10.0, http_warmup=2.0, http_floor=3.0, claims=500, drain_jobs=10_000,
                   drain_robots=100)

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=1, raw=0.5, engine=0.5, durable=1.0, commits=0.5, warmup=0.1,
                   http=2.0, http_warmup=0.5, http_floor=1.0, claims=100, drain_jobs=1_000,
                   drain_robots=20)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short runs (a CI smoke test; the numbers are noisier)")
    parser.add_argument("--only", choices=("a", "b", "c"),
                        help="a: in-process throughput; b: HTTP launch-and-wait latency; "
                             "c: robots (start -> claim latency, draining jobs)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--postgres-url", default=inprocess.pg_admin_url(),
                        help="server for the scratch database (env FLOWPORT_BENCH_POSTGRES_URL; "
                             "default %(default)s)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--rate", type=float, default=200.0, help="HTTP requests per second")
    parser.add_argument("--http-seconds", type=float, help="length of the HTTP measurement")
    parser.add_argument("--connections", type=int, default=32,
                        help="most HTTP requests in flight (one keep-alive connection each)")
    parser.add_argument("--robot-jobs", type=int, help="jobs part (c) drains")
    parser.add_argument("--robots", type=int, help="simulated robots draining them")
    parser.add_argument("--profile", action="store_true",
                        help="also profile durable SQLite starts with cProfile and print the "
                             "top costs")
    return parser.parse_args(argv)


class Failures:
    def __init__(self) -> None:
        self.count = 0

    def record(self, what: str, exc: BaseException) -> str:
        self.count += 1
        detail = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
        progress(f"  {what} FAILED: {detail}")
        progress(traceback.format_exc())
        return f"failed: {detail}"


@dataclass
class Bench:
    name: str
    unit: str
    seconds: float  # per round
    workload: inprocess.Workload | None = None
    rates: list[float] = field(default_factory=list)
    failure: str = ""

    @property
    def rate(self) -> float | None:
        return statistics.median(self.rates) if self.rates and not self.failure else None


def part_a(report: Report, plan: Plan, args: argparse.Namespace, failures: Failures) -> None:
    progress("(a) straight-through diagram: start -> 3 script tasks -> end")
    benches: list[Bench] = []
    with ExitStack() as stack:

        def add(name: str, unit: str, seconds: float,
                setup: Callable[[], inprocess.Workload]) -> None:
            bench = Bench(name, unit, seconds)
            benches.append(bench)
            progress(f"  {name}: {plan.rounds} x {seconds:g} s")
            try:
                bench.workload = setup()
                inprocess.run_for(bench.workload, 0, plan.warmup)
            except Exception as exc:
                bench.failure = failures.record(name, exc)

        add(RAW, "inst/s", plan.raw, inprocess.raw_spiff)
        add(ENGINE, "inst/s", plan.engine, inprocess.engine_in_memory)
        add(IN_THREAD, "inst/s", plan.engine,
            lambda: inprocess.engine_in_memory(in_worker=True))
        add(ISOLATED, "inst/s", plan.engine,
            lambda: stack.enter_context(inprocess.engine_isolated()))
        sqlite = stack.enter_context(inprocess.sqlite_url())
        add(durable_name("SQLite"), "inst/s", plan.durable,
            lambda: stack.enter_context(inprocess.durable(sqlite)).start)
        sqlite_b = stack.enter_context(inprocess.sqlite_url())
        add(durable_name("SQLite", isolated=False), "inst/s", plan.durable,
            lambda: stack.enter_context(inprocess.durable(sqlite_b, script_workers=0)).start)
        add(commits_name("SQLite"), "commits/s", plan.commits,
            lambda: stack.enter_context(inprocess.commits(sqlite)))
        if args.no_postgres:
            report.notices.append("PostgreSQL skipped (--no-postgres)")
        else:
            pg = stack.enter_context(inprocess.postgres_url(args.postgres_url))
            if pg is None:
                report.notices.append(f"PostgreSQL skipped: {args.postgres_url} did not answer")
            else:
                add(durable_name("PostgreSQL"), "inst/s", plan.durable,
                    lambda: stack.enter_context(inprocess.durable(pg)).start)
                add(commits_name("PostgreSQL"), "commits/s", plan.commits,
                    lambda: stack.enter_context(inprocess.commits(pg)))
        for round_ in range(plan.rounds):
            progress(f"  round {round_ + 1} of {plan.rounds}")
            # Every other round runs them in reverse, so none always runs first or last.
            for bench in benches if round_ % 2 == 0 else reversed(benches):
                if bench.workload is None or bench.failure:
                    continue
                try:
                    rate = inprocess.run_for(bench.workload, bench.seconds)
                except Exception as exc:
                    bench.failure = failures.record(bench.name, exc)
                else:
                    bench.rates.append(rate.per_second)
    report.details["rounds"] = {b.name: [round(r, 1) for r in b.rates] for b in benches}
    measures_a(report, {b.name: b for b in benches})


def measures_a(report: Report, benches: dict[str, Bench]) -> None:
    raw = benches[RAW].rate

    def measure(name: str, **kwargs: Any) -> Measure | None:
        bench = benches.get(name)
        if bench is None:
            return None
        return report.add(Measure("a", name, bench.rate, bench.unit, note=bench.failure,
                                  **kwargs))

    def vs_raw(value: float | None) -> dict[str, Any]:
        return {"ratio": value / raw if value is not None and raw else None,
                "ratio_of": "of raw"}

    measure(RAW, ratio=1.0 if raw else None, ratio_of="(baseline)")
    measure(ENGINE, **vs_raw(benches[ENGINE].rate))
    measure(IN_THREAD, **vs_raw(benches[IN_THREAD].rate))
    measure(ISOLATED, **vs_raw(benches[ISOLATED].rate))
    report.add(isolation_cost(benches[IN_THREAD].rate, benches[ISOLATED].rate))
    for db, target in (("SQLite", SQLITE_TARGET), ("PostgreSQL", None)):
        starts = benches.get(durable_name(db))
        if starts is None:
            continue
        found = measure(starts.name, **vs_raw(starts.rate),
                        target=f">= {target:.2f} of raw" if target is not None else "")
        if found is not None and target is not None:
            found.passed = found.ratio is not None and found.ratio >= target
        in_thread = benches.get(durable_name(db, isolated=False))
        if in_thread is not None:
            measure(in_thread.name, **vs_raw(in_thread.rate))
        commit = benches.get(commits_name(db))
        if commit is not None:
            per_commit = (starts.rate / commit.rate
                          if starts.rate is not None and commit.rate else None)
            measure(commit.name, ratio=per_commit, ratio_of="starts per commit")


def isolation_cost(in_thread: float | None, isolated: float | None) -> Measure:
    """What running the scripts in worker processes adds to each script task, in µs."""
    cost = None
    if in_thread and isolated:
        cost = (1 / isolated - 1 / in_thread) / diagram.SCRIPT_TASKS * 1e6
    return Measure("a", ISOLATION_COST, cost, "µs",
                   ratio=isolated / in_thread if in_thread and isolated else None,
                   ratio_of="of in-thread speed")


def durable_name(db: str, *, isolated: bool = True) -> str:
    return f"durable start_instance, {db}" + ("" if isolated else ", scripts in-thread")


def commits_name(db: str) -> str:
    return f"store single-row commit, {db}"


def part_b(report: Report, plan: Plan, args: argparse.Namespace, failures: Failures) -> None:
    seconds = args.http_seconds or plan.http
    progress(f"(b) HTTP launch-and-wait at {args.rate:g} req/s for {seconds:g} s "
             f"(after {plan.http_warmup:g} s of warm-up), at most {args.connections} in flight")
    try:
        run = latency.measure(args.rate, seconds, plan.http_warmup, args.connections,
                              plan.http_floor)
    except Exception as exc:
        report.add(Measure("b", "HTTP launch-and-wait", None, "ms",
                           note=failures.record("HTTP launch-and-wait", exc)))
        return
    r = run.launch

    def ms(p: float) -> float | None:
        value = r.percentile(p)
        return None if value is None else value * 1000

    p50, p90, p99, top = ms(50), ms(90), ms(99), ms(100)
    report.add(Measure("b", "HTTP round trip p50", p50, "ms", target=f"<= {P50_TARGET_MS:g} ms",
                       passed=p50 is not None and p50 <= P50_TARGET_MS))
    report.add(Measure("b", "HTTP round trip p90", p90, "ms"))
    report.add(Measure("b", "HTTP round trip p99", p99, "ms", target=f"<= {P99_TARGET_MS:g} ms",
                       passed=p99 is not None and p99 <= P99_TARGET_MS))
    report.add(Measure("b", "HTTP round trip max", top, "ms"))
    achieved = r.achieved_rate
    report.add(Measure("b", "HTTP achieved rate", achieved, "req/s",
                       target=f"{args.rate:g} req/s", ratio=achieved / args.rate,
                       ratio_of="of target", passed=achieved >= 0.98 * args.rate))
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.error_kinds.items()))
    report.add(Measure("b", "HTTP errors", float(r.errors), "", target="0",
                       passed=r.errors == 0, note=kinds))
    if run.health is not None:
        h = run.health
        for p in (50, 99):
            value = h.percentile(p)
            report.add(Measure("b", f"floor: GET /healthz p{p}",
                               None if value is None else value * 1000, "ms",
                               note=f"{h.errors} errors" if h.errors else ""))
    def ms_of(values: list[float], p: float) -> float | None:
        value = r.percentile(p, values)
        return None if value is None else round(value * 1000, 3)

    def cpu_ms(result: latency.LoadResult) -> float | None:
        if result.server_cpu is None or not result.sent:
            return None
        return round(result.server_cpu / result.sent * 1000, 3)

    report.details["http"] = {
        "server": run.command, "rate": args.rate, "seconds": seconds,
        "connections": args.connections, "sent": r.sent, "ok": r.ok, "errors": r.errors,
        "error_kinds": r.error_kinds,
        "server_cpu_ms_per_request": cpu_ms(r),
        "client_cpu_ms_per_request": round(r.client_cpu / r.sent * 1000, 3) if r.sent else None,
        "client_send_lag_p50_ms": ms_of(r.send_lags, 50),
        "client_send_lag_p99_ms": ms_of(r.send_lags, 99),
        "connection_wait_p99_ms": ms_of(r.connection_waits, 99),
        "healthz_server_cpu_ms_per_request": cpu_ms(run.health) if run.health else None,
    }
    if r.errors:
        report.details["http"]["server_log_tail"] = run.log_tail


def part_c(report: Report, plan: Plan, args: argparse.Namespace, failures: Failures) -> None:
    """Each measurement on a fresh database: SQLite, and PostgreSQL when it answers."""
    jobs = args.robot_jobs or plan.drain_jobs
    count = args.robots or plan.drain_robots
    details: dict[str, Any] = {}

    def databases() -> Iterator[tuple[str, str]]:
        with inprocess.sqlite_url() as url:
            yield "SQLite", url
        if args.no_postgres:
            return
        with inprocess.postgres_url(args.postgres_url) as pg:
            if pg is None:
                report.notices.append(f"PostgreSQL skipped: {args.postgres_url} did not answer")
                return
            yield "PostgreSQL", pg

    for db, url in databases():
        claim_latency(report, plan, db, url, failures, details)
    for db, url in databases():
        drain(report, db, url, jobs, count, failures, details)
    report.details["robots"] = details


def claim_latency(report: Report, plan: Plan, db: str, url: str, failures: Failures,
                  details: dict[str, Any]) -> None:
    name = f"robots: start -> claim, {db}"
    progress(f"(c) {name}: {plan.claims} starts, 20 per second, 4 robots long-polling")
    try:
        result = robots.measure_latency(url, plan.claims, 0.05)
    except Exception as exc:
        report.add(Measure("c", name, None, "ms", note=failures.record(name, exc)))
        return

    def ms(p: float) -> float | None:
        value = result.percentile(p)
        return None if value is None else value * 1000

    p99 = ms(99)
    report.add(Measure("c", f"{name} p50", ms(50), "ms"))
    report.add(Measure("c", f"{name} p99", p99, "ms", target=f"<= {CLAIM_P99_TARGET_MS:g} ms",
                       passed=p99 is not None and p99 <= CLAIM_P99_TARGET_MS and
                       not result.missing,
                       note=f"{result.missing} never claimed" if result.missing else ""))
    details[f"claim latency {db}"] = {
        "samples": len(result.samples), "missing": result.missing,
        "max_ms": round(max(result.samples) * 1000, 2) if result.samples else None}


def drain(report: Report, db: str, url: str, jobs: int, count: int, failures: Failures,
          details: dict[str, Any]) -> None:
    name = f"robots: {count} robots drain {jobs:,} jobs, {db}"
    progress(f"(c) {name}")
    try:
        result = robots.measure_drain(url, jobs, count)
    except Exception as exc:
        report.add(Measure("c", name, None, "jobs/s", note=failures.record(name, exc)))
        return
    report.add(Measure("c", name, result.per_second, "jobs/s"))
    report.add(Measure("c", f"  jobs handed out twice, {db}", float(result.twice), "",
                       target="0", passed=result.twice == 0))
    report.add(Measure("c", f"  jobs lost, {db}", float(result.lost), "", target="0",
                       passed=result.lost == 0))
    details[f"drain {db}"] = {
        "jobs": jobs, "robots": count, "seconds": round(result.seconds, 2),
        "claimed": len(result.claimed), "completed_on_server": result.completed_on_server,
        "not_first_attempt": result.not_first_attempt,
        "enqueue_per_second": round(result.enqueue_rate, 1),
        "network_errors_retried": result.retries,
        "server_cpu_ms_per_job": round(result.server_cpu / len(result.claimed) * 1000, 2)
        if result.server_cpu is not None and result.claimed else None}


def profile(report: Report, plan: Plan, args: argparse.Namespace) -> None:
    """Where a durable start's time goes: a per-call breakdown on each database, then cProfile's
    top functions on SQLite."""
    parts = []
    progress("profiling durable starts: time per store and engine call")
    with inprocess.sqlite_url() as url:
        parts.append(breakdown.breakdown(url, plan.durable * plan.rounds, plan.warmup))
    if not args.no_postgres:
        with inprocess.postgres_url(args.postgres_url) as pg:
            if pg is not None:
                parts.append(breakdown.breakdown(pg, plan.durable * plan.rounds, plan.warmup))
    progress("profiling durable starts on SQLite with cProfile")
    with inprocess.sqlite_url() as url:
        parts.append(inprocess.profile_durable(url, plan.durable * plan.rounds, plan.warmup))
    report.details["profile"] = "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.default()
    report = Report()
    failures = Failures()
    began = time.monotonic()
    load_before = load_average()
    if args.only in (None, "a"):
        part_a(report, plan, args, failures)
    if args.only in (None, "b"):
        part_b(report, plan, args, failures)
    if args.only in (None, "c"):
        part_c(report, plan, args, failures)
    if args.profile:
        profile(report, plan, args)
    report.details["wall_seconds"] = round(time.monotonic() - began, 1)
    load_after = load_average()
    report.details["load_average_1min"] = {"before": load_before, "after": load_after}
    if load_before is not None and load_before >= BUSY_LOAD:
        report.notices.append(
            f"note: other work was running when the benchmark began (1-minute load average "
            f"{load_before} on {os.cpu_count()} CPUs); the numbers understate an idle machine")
    report.details["quick"] = args.quick
    if args.json:
        print(report.to_json())
    else:
        print()
        print(report.table())
        rounds = report.details.get("rounds")
        if rounds:
            print("\n(a) rate of each round, per second (the table shows the median):")
            for name, rates in rounds.items():
                print(f"  {name}: {', '.join(f'{r:,.0f}' for r in rates)}")
        for name, values in report.details.get("robots", {}).items():
            print(f"\n(c) {name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
        http = report.details.get("http")
        if http:
            print("\n(b) details:")
            for key, value in http.items():
                if key == "server_log_tail" and value.strip():
                    print("  server log (last lines):\n    " + value.replace("\n", "\n    "))
                elif key != "server_log_tail":
                    print(f"  {key}: {value}")
        print(f"\nwall time {report.details['wall_seconds']} s")
        if "profile" in report.details:
            print("\n" + report.details["profile"])
    if failures.count:
        return 2
    return 1 if args.strict and report.missed else 0


if __name__ == "__main__":
    sys.exit(main())
