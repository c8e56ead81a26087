"""`python -m bench.steps [--instances N] [--only sqlite|postgresql]`: executor steps and
cleanup hooks through the services, on SQLite and PostgreSQL.

For N instances of a three-step process (each step a `demo.resource`: one record write in the
step's transaction) it measures, one thread:
1. starts: the start request, which queues the first step (instances/s);
2. steps: the workers' loop running every queued step to the end (steps/s), and the same
   instances' cost per step relative to a one-commit straight-through start;
3. deletes: delete requests, then the hook calls that remove the records (hooks/s).
Printed as a table; nothing is asserted (targets are for people to read).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.inprocess import DEFAULT_PG_ADMIN_URL
from bench.report import per_database

CHAIN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:flowport="https://flowport.dev/bpmn" id="D" targetNamespace="http://flowport.dev/bench">
 <bpmn:process id="chain" isExecutable="true">
  <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f0" sourceRef="S" targetRef="A" />
  <bpmn:serviceTask id="A" flowport:executor="demo.resource" />
  <bpmn:sequenceFlow id="f1" sourceRef="A" targetRef="B" />
  <bpmn:serviceTask id="B" flowport:executor="demo.resource" />
  <bpmn:sequenceFlow id="f2" sourceRef="B" targetRef="C" />
  <bpmn:serviceTask id="C" flowport:executor="demo.resource" />
  <bpmn:sequenceFlow id="f3" sourceRef="C" targetRef="E" /><bpmn:endEvent id="E" />
 </bpmn:process>
</bpmn:definitions>"""
PLAIN = CHAIN.split("<bpmn:serviceTask")[0].replace('targetRef="A"', 'targetRef="E"') + (
    '<bpmn:endEvent id="E" /></bpmn:process></bpmn:definitions>')


@contextmanager
def database(kind: str) -> Iterator[str]:
    from flowport.store.migrate import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    import sqlalchemy as sa

    admin_url = os.environ.get("FLOWPORT_BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"flowport_bench_steps_{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def measure(kind: str, count: int) -> dict[str, float]:
    from flowport.config import Settings
    from flowport.services import auth, cleanup, steps
    from flowport.services import instances as run
    from flowport.services import processes as deploy
    from flowport.services.context import Context

    with database(kind) as url:
        ctx = Context.build(Settings(database_url=url, run_loops=False))
        try:
            _, token = auth.create_account_with_admin(ctx, "bench", "bench")
            who = auth.authenticate(ctx, token)
            for key, xml in (("chain", CHAIN), ("plain", PLAIN)):
                deploy.create_process(ctx, who, deploy.CreateProcess(key=key))
                deploy.deploy_version(ctx, who, key, deploy.DeployVersion(
                    f"{key}.bpmn", xml.encode()))
            began = time.perf_counter()
            for _ in range(count):
                run.start_instance(ctx, who, run.StartInstance("plain"))
            plain = time.perf_counter() - began

            began = time.perf_counter()
            started = [run.start_instance(ctx, who, run.StartInstance("chain")).instance
                       for _ in range(count)]
            starts = time.perf_counter() - began
            began = time.perf_counter()
            ran = steps.run_due_steps(ctx, limit=10 * count)
            ran_for = time.perf_counter() - began
            assert ran == 3 * count, ran
            assert all(run.get_instance(ctx, who, i.id).status == "completed" for i in started)

            began = time.perf_counter()
            for instance in started:
                cleanup.delete_instance(ctx, who, instance.id)
            deletes = time.perf_counter() - began
            began = time.perf_counter()
            hooks = steps.run_due_steps(ctx, limit=10 * count)
            hooks_for = time.perf_counter() - began
            assert hooks == 3 * count, hooks
        finally:
            ctx.store.dispose()
    return {"plain starts/s": count / plain, "starts/s": count / starts,
            "steps/s": ran / ran_for, "step vs plain start": (ran_for / ran) / (plain / count),
            "deletes/s": count / deletes, "hooks/s": hooks / hooks_for}


def main(argv: list[str] | None = None) -> None:
    per_database("python -m bench.steps", __doc__, measure, argv)


if __name__ == "__main__":
    main()
