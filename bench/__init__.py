"""Flowport benchmarks: `uv run python -m bench` (or `make bench`).

(a) a straight-through BPMN diagram (start -> 3 script tasks -> end) run by raw SpiffWorkflow in
memory, by Flowport's engine in memory, and durably through the service layer on SQLite and
PostgreSQL, beside the store's raw single-row commit rate; (b) HTTP launch-and-wait latency
against a real `flowport serve` at a fixed, open-loop request rate; (c) robots over HTTP: start
-> claim latency with long polls, and many simulated robots draining queued jobs (each handed
out exactly once, none lost). `python -m bench --only c` runs (c) alone. See docs/benchmarks.md.
"""
