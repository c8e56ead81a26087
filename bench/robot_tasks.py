"""`python -m bench.robot_tasks [--instances N] [--only sqlite|postgresql]`: BPMN `robot`
service tasks through the services, on SQLite and PostgreSQL, one thread.

For N instances of start -> robot task -> end it measures:
1. dispatch: starting the parent and running its step, which starts the child package
   instance (parents/s);
2. robot: one simulated robot claiming the children in batches of 10 and completing each
   (children/s), the children's ends marking the parents' steps due;
3. collect: the step workers taking each child's outputs back into its parent, which then
   completes (parents/s).
Printed as a table; nothing is asserted beyond every parent completing with its output.
"""

from __future__ import annotations

import time

from bench.report import per_database
from bench.steps import database

PARENT = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:flowport="https://flowport.dev/bpmn" id="D" targetNamespace="http://flowport.dev/bench">
 <bpmn:process id="parent" isExecutable="true">
  <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f0" sourceRef="S" targetRef="R" />
  <bpmn:serviceTask id="R" flowport:executor="robot"><bpmn:extensionElements>
   <flowport:input name="process">"job"</flowport:input>
   <flowport:input name="variables">{"n": n}</flowport:input>
  </bpmn:extensionElements></bpmn:serviceTask>
  <bpmn:sequenceFlow id="f1" sourceRef="R" targetRef="E" /><bpmn:endEvent id="E" />
 </bpmn:process>
</bpmn:definitions>"""


def measure(kind: str, count: int) -> dict[str, float]:
    from flowport.config import Settings
    from flowport.services import agents, auth, robots, steps
    from flowport.services import instances as run
    from flowport.services import processes as deploy
    from flowport.services.context import Context

    with database(kind) as url:
        ctx = Context.build(Settings(database_url=url, run_loops=False))
        try:
            _, token = auth.create_account_with_admin(ctx, "bench", "bench")
            who = auth.authenticate(ctx, token)
            deploy.create_process(ctx, who, deploy.CreateProcess(key="job", process_type=1))
            deploy.deploy_version(ctx, who, "job", deploy.DeployVersion("job.py", b"pass"))
            deploy.create_process(ctx, who, deploy.CreateProcess(key="parent"))
            deploy.deploy_version(ctx, who, "parent", deploy.DeployVersion(
                "parent.bpmn", PARENT.encode()))
            created = robots.create_robot(ctx, who, robots.CreateRobot("bench", slots=10))
            bot = auth.authenticate(ctx, robots.enroll(
                ctx, robots.Enroll(created.token, "m", "9.9")).credential)

            began = time.perf_counter()
            parents = [run.start_instance(ctx, who, run.StartInstance("parent", {"n": i}))
                       .instance for i in range(count)]
            assert steps.run_due_steps(ctx, limit=10 * count) == count
            dispatched = time.perf_counter() - began

            began = time.perf_counter()
            done = 0
            while done < count:
                batch = agents.claim_jobs(ctx, bot, 10)
                assert batch, f"only {done} of {count} children were claimable"
                for job in batch:
                    agents.complete_job(ctx, bot, agents.Complete(
                        job.instance.id, job.job.fencing, {"m": job.instance.variables["n"]}))
                done += len(batch)
            robot = time.perf_counter() - began

            began = time.perf_counter()
            assert steps.run_due_steps(ctx, limit=10 * count) == count
            collected = time.perf_counter() - began
            for i, parent in enumerate(parents):
                ended = run.get_instance(ctx, who, parent.id)
                assert ended.status == "completed" and ended.variables["m"] == i, ended
        finally:
            ctx.store.dispose()
    return {"dispatch parents/s": count / dispatched, "robot children/s": count / robot,
            "collect parents/s": count / collected,
            "round trip ms": 1000 * (dispatched + robot + collected) / count}


def main(argv: list[str] | None = None) -> None:
    per_database("python -m bench.robot_tasks", __doc__, measure, argv)


if __name__ == "__main__":
    main()
