"""Settings: one class, read from FLOWPORT_* environment variables at the entry point and
passed down. Nothing reads the environment anywhere else."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWPORT_", extra="ignore")

    database_url: str = f"sqlite:///{Path('var/flowport.db').absolute()}"
    # Database connections each process keeps (and as many more under bursts); on
    # PostgreSQL each also holds two for wake-ups (LISTEN/NOTIFY). See docs/deploy.md.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    host: str = "127.0.0.1"
    port: int = 8080
    bootstrap_admin_token: str | None = None
    # The console password of that admin (else `serve` generates one and prints it once).
    bootstrap_admin_password: str | None = None
    # Background loops: how often to look for due timers when nothing woke them earlier.
    timer_poll_seconds: float = 0.5
    # The schedule loop wakes at the next fire time, and at least this often (continuous
    # schedules notice here that their previous run ended in another process).
    schedule_poll_seconds: float = 1.0
    # A fire time served later than this is a misfire, handled by the schedule's policy.
    schedule_misfire_seconds: float = 60.0
    script_time_limit: float = Field(default=1.0, gt=0, le=300)
    # Script tasks run in this many confined worker processes; 0 runs them inside the server
    # under the restricted-Python layer alone (trusted, single-tenant use only).
    script_workers: int = Field(default=2, ge=0, le=64)
    script_memory_mb: int = Field(default=256, ge=64, le=65536)
    # How long a script waits for a free worker before its step gives up with a 503.
    script_queue_seconds: float = Field(default=10.0, gt=0, le=600)
    max_wait_seconds: float = 60.0
    # Launch-and-wait re-reads the instance this often, in case a wake-up was lost (they come
    # from this process, and on PostgreSQL from the others through LISTEN/NOTIFY).
    wait_poll_seconds: PositiveFloat = 0.25
    max_page_size: int = Field(default=500, ge=1, le=500)
    max_upload_bytes: int = 50 * 1024 * 1024
    # Any request body but a file upload (JSON: variables, records, users ...).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    max_variables_bytes: int = 1024 * 1024
    run_loops: bool = True
    session_idle_minutes: int = 60
    # However active, a session ends this long after its login (OWASP: absolute timeout).
    session_max_hours: float = Field(default=12.0, gt=0)
    # Tokens issued by a password login (Studio's /api/login/, /api/v1/auth/token) expire
    # after this many hours; unset: never.
    login_token_hours: float | None = None
    # Creatio's Execute with ResultParameterName waits this long for the end.
    creatio_wait_seconds: float = 60.0
    # Cookies marked Secure: turn on behind HTTPS.
    secure_cookies: bool = False
    # -- executors and cleanup (service tasks, cancel / delete / rollback hooks) -------------
    # Hosts the `http` executor may call: `host`, `host:port` or `*.domain`, comma-separated.
    http_allowed_hosts: str = ""
    http_timeout_seconds: float = 10.0
    http_max_response_bytes: int = 1024 * 1024
    # Background threads running executor steps and hooks (in serve, or in `flowport worker`).
    step_workers: int = 2
    step_poll_seconds: float = 1.0
    # A step claimed longer ago than this is taken as lost (its worker died).
    step_lease_seconds: float = 300.0
    # A failing hook is tried this often, waiting backoff * 2**(n-1) seconds before try n+1.
    hook_attempts: int = 5
    hook_backoff_seconds: float = 2.0
    hook_backoff_max_seconds: float = 300.0
    # The zone dialects show wall-clock times in (Activiti's "YYYY-MM-DD HH:MM:SS").
    display_time_zone: str = "UTC"
    # bpmn-js's dist/ directory for the console's diagrams (default: where `npm ci` puts it in
    # src/flowport/web/vendor); without it the console says diagrams are unavailable.
    bpmn_js_dir: Path | None = None
    # Robots. A claimed job's lease lasts robot_lease_seconds unless a heartbeat renews it;
    # agents heartbeat every robot_heartbeat_seconds; a robot silent for
    # robot_disconnect_seconds shows as Disconnected. A stop that is not done within the stop
    # grace becomes an abort; an abort not confirmed within the abort grace ends `aborted`.
    robot_lease_seconds: PositiveFloat = 30.0
    robot_heartbeat_seconds: PositiveFloat = 5.0
    robot_disconnect_seconds: PositiveFloat = 60.0
    robot_stop_grace_seconds: PositiveFloat = 30.0
    robot_abort_grace_seconds: PositiveFloat = 30.0
    robot_claim_max_wait_seconds: PositiveFloat = 30.0
    robot_poll_seconds: PositiveFloat = 0.5
    robot_enrollment_hours: PositiveFloat = 24.0
    robot_max_log_lines: PositiveInt = 100_000
    robot_max_progress_events: PositiveInt = 10_000
    robot_max_artifact_bytes: PositiveInt = 20 * 1024 * 1024
    robot_max_artifacts_bytes: PositiveInt = 200 * 1024 * 1024
    robot_max_artifacts: PositiveInt = 200

    @model_validator(mode="after")
    def _heartbeats_renew_leases(self) -> Settings:
        if self.robot_heartbeat_seconds * 2 > self.robot_lease_seconds:
            raise ValueError("robot_heartbeat_seconds must be at most half of "
                             "robot_lease_seconds, so one lost heartbeat does not lose a lease")
        return self
