"""The robot agent: `flowport robot`. It talks to the server only through flowport.client and
imports nothing of the server (import-linter holds it to that), so it ships with httpx and
Robot Framework alone.

    agent.py     enrollment, heartbeats, claims, one thread per job, lost-job recovery
    runs.py      one job: fetch its package, run it, stream logs and progress, report
    runners.py   the subprocess of a run: Robot Framework or Python, and its exit mapped
    workdir.py   the work directory: credential, package cache, the journal of running jobs
    listener.py  a Robot Framework listener that writes per-test progress for the agent
    keywords.py  a keyword library for suites: read inputs, write outputs
    launch.py    starts a run so that it dies with the agent (Linux)
"""
