"""The schema, once, for SQLite and PostgreSQL alike. Migrations are generated from it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger primary keys autoincrement on PostgreSQL; on SQLite only INTEGER does.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Moment(sa.TypeDecorator[datetime]):
    """A UTC instant. SQLite keeps no time zone, so values go in as naive UTC and come back
    tz-aware on both databases."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created_at", Moment(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("login", sa.String(255), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("email", sa.String(255), nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    # May manage accounts; the bootstrap admin is one.
    sa.Column("system_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("expires_at", Moment()),
    sa.Column("revoked_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("last_seen_at", Moment(), nullable=False),
)

processes = sa.Table(
    "processes",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("guid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("process_type", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("min_version_to_run", sa.String(64)),
    sa.Column("current_version", sa.Integer),
    # Package processes: tags a robot needs, and retries of work whose robot was lost.
    sa.Column("robot_tags", sa.JSON),
    sa.Column("max_attempts", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("retry_backoff", sa.Integer, nullable=False, server_default="60"),
    sa.Column("deleted_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    # A deleted process frees its key for a new one.
    sa.Index(
        "uq_processes_live_key",
        "account_id",
        "key",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

process_versions = sa.Table(
    "process_versions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("process_id", BigId, sa.ForeignKey("processes.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("bpmn_process_id", sa.String(255)),
    sa.Column("entry_point", sa.String(255)),
    # The engine's serialized spec, stored once per version rather than in every instance.
    sa.Column("spec", sa.Text),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.UniqueConstraint("process_id", "number"),
    sa.UniqueConstraint("process_id", "sha256"),
)

instances = sa.Table(
    "instances",
    metadata,
    # seq: the increasing number some dialects show (Studio job_id, Activiti processInstanceId).
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("process_id", BigId, sa.ForeignKey("processes.id"), nullable=False),
    sa.Column("version_id", BigId, sa.ForeignKey("process_versions.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("business_key", sa.String(255)),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("variables", sa.JSON, nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("wake_at", Moment()),
    sa.Column("parent_id", sa.String(36)),
    sa.Column("schedule_id", BigId),
    sa.Column("deleted_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.Column("started_at", Moment()),
    sa.Column("ended_at", Moment()),
    sa.Index("ix_instances_account_seq", "account_id", "seq"),
    sa.Index(
        "uq_instances_idempotency",
        "account_id",
        "idempotency_key",
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    ),
    # The timer loop's claim reads only this small partial index.
    sa.Index(
        "ix_instances_due",
        "wake_at",
        sqlite_where=sa.text("wake_at IS NOT NULL"),
        postgresql_where=sa.text("wake_at IS NOT NULL"),
    ),
)

elements = sa.Table(
    "elements",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False),
    sa.Column("uid", sa.String(36), nullable=False),
    sa.Column("element_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.UniqueConstraint("instance_seq", "uid"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq")),
    sa.Column("at", Moment(), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_events_instance", "instance_seq", "seq"),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("entity", sa.String(128), nullable=False),
    sa.Column("id", sa.String(36), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.UniqueConstraint("account_id", "entity", "id"),
)

# -- schedules (issue 8) --------------------------------------------------------------------

schedules = sa.Table(
    "schedules",
    metadata,
    # id: the number every API shows (Sherpa's trigger `id`); guid: Sherpa's trigger GUID.
    sa.Column("id", BigId, primary_key=True),
    sa.Column("guid", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("process_id", BigId, sa.ForeignKey("processes.id"), nullable=False),
    sa.Column("version", sa.Integer),  # pinned version number; NULL: the current one
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("continuous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cron", sa.String(255)),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("variables", sa.JSON, nullable=False),
    sa.Column("start_at", Moment()),
    sa.Column("end_at", Moment()),
    sa.Column("time_window", sa.JSON),  # {"start": "09:00", "end": "18:00"} on the wall clock
    sa.Column("calendar", sa.JSON, nullable=False),  # non-working days, "YYYY-MM-DD"
    sa.Column("max_runs", sa.Integer),
    sa.Column("max_concurrency", sa.Integer),
    sa.Column("misfire", sa.String(16), nullable=False, server_default="skip"),
    sa.Column("catch_up_limit", sa.Integer),
    # Seconds after its start at which an instance it starts is stopped / aborted.
    sa.Column("stop_after", sa.Integer),
    sa.Column("abort_after", sa.Integer),
    sa.Column("robot_id", BigId),
    sa.Column("robot_group_id", BigId),
    sa.Column("robot_type", sa.SmallInteger),
    sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
    # The next fire time to serve (NULL: disabled, used up or nothing ahead), and the instant
    # up to which every fire time has been served or recorded as skipped.
    sa.Column("next_fire_at", Moment()),
    sa.Column("covered_until", Moment(), nullable=False),
    sa.Column("created_by", sa.String(255)),
    sa.Column("deleted_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.Index("ix_schedules_account_id", "account_id", "id"),
    # The schedule loop's claim reads only this small partial index.
    sa.Index(
        "ix_schedules_due",
        "next_fire_at",
        sqlite_where=sa.text("next_fire_at IS NOT NULL"),
        postgresql_where=sa.text("next_fire_at IS NOT NULL"),
    ),
)

schedule_runs = sa.Table(
    "schedule_runs",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("schedule_id", BigId, sa.ForeignKey("schedules.id"), nullable=False),
    sa.Column("fire_time", Moment(), nullable=False),
    sa.Column("at", Moment(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # started | skipped | failed
    sa.Column("reason", sa.String(64)),
    sa.Column("instance_id", sa.String(36)),
    sa.Column("detail", sa.JSON, nullable=False),
    # One line per fire time: the database itself refuses to serve a fire time twice.
    sa.UniqueConstraint("schedule_id", "fire_time"),
)

# Instances a schedule started: listed newest first, and the unfinished ones counted (queries
# repeat this predicate word for word, so PostgreSQL can prove the partial index applies).
UNFINISHED = "status NOT IN ('completed', 'failed', 'stopped', 'aborted')"
sa.Index(
    "ix_instances_schedule",
    instances.c.schedule_id,
    instances.c.seq,
    sqlite_where=sa.text("schedule_id IS NOT NULL"),
    postgresql_where=sa.text("schedule_id IS NOT NULL"),
)
sa.Index(
    "ix_instances_schedule_active",
    instances.c.schedule_id,
    sqlite_where=sa.text(f"schedule_id IS NOT NULL AND {UNFINISHED}"),
    postgresql_where=sa.text(f"schedule_id IS NOT NULL AND {UNFINISHED}"),
)

# -- Studio dialect (issue 7): process project and creator, drafts -------------------------
# Columns of `processes` added by migration 0005: appended here so they stay beside the table
# that needs them.
processes.append_column(
    # Free text naming where the process's project lives (Studio's "project" address).
    sa.Column("project", sa.String(255), nullable=False, server_default=""))
processes.append_column(
    # The user who created the process (Studio's `cuser`); null for processes created before
    # 0005. No foreign key: users are disabled, never deleted, and SQLite cannot add one.
    sa.Column("created_by", BigId))

process_drafts = sa.Table(
    "process_drafts",
    metadata,
    # One draft per process: saving replaces it, publishing turns it into a version.
    sa.Column("process_id", BigId, sa.ForeignKey("processes.id"), primary_key=True,
              autoincrement=False),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("saved_by", sa.String(255)),
    sa.Column("saved_at", Moment(), nullable=False),
)

# -- executors and linked cleanup instances (issue 7) ---------------------------------------
# Columns this topic adds to `instances` (migration 0006): name, debug, inputs.
instances.append_column(sa.Column("name", sa.String(255)))
instances.append_column(
    sa.Column("debug", sa.Boolean, nullable=False, server_default=sa.false()))
# The variables the instance started with (Activiti's processContent), in the caller's order.
instances.append_column(sa.Column("inputs", sa.JSON))

steps = sa.Table(
    "steps",
    metadata,
    # seq: the increasing number dialects show (Activiti's taskId).
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    # The instance whose task list holds the step: the original for a run, the cleanup
    # instance for a hook call.
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False),
    sa.Column("uid", sa.String(36)),  # a run's element activation
    sa.Column("element_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("executor", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target_seq", BigId, sa.ForeignKey("steps.seq")),  # a hook call's step
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("outputs", sa.JSON),
    sa.Column("reason", sa.Text),
    sa.Column("progress", sa.SmallInteger),
    sa.Column("detail", sa.JSON),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due_at", Moment()),  # a worker may claim it from then on
    sa.Column("lease_until", Moment()),  # claimed: its worker is taken as lost after this
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.Column("completed_at", Moment()),
    sa.Column("ended_at", Moment()),
    sa.UniqueConstraint("instance_seq", "uid"),
    sa.Index("ix_steps_instance", "instance_seq", "seq"),
    # The workers' claims read only these small partial indexes.
    sa.Index("ix_steps_due", "due_at", sqlite_where=sa.text("due_at IS NOT NULL"),
             postgresql_where=sa.text("due_at IS NOT NULL")),
    sa.Index("ix_steps_leased", "lease_until", sqlite_where=sa.text("lease_until IS NOT NULL"),
             postgresql_where=sa.text("lease_until IS NOT NULL")),
)

# An instance's links to its cancel, delete and rollback instances.
cleanups = sa.Table(
    "cleanups",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("target_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False),
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False,
              unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Index("ix_cleanups_target", "target_seq", "seq"),
)

# -- robots: agents, groups, and the dispatch of package work to them --------------------

robots = sa.Table(
    "robots",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("machine", sa.String(255), nullable=False, server_default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("runtime_version", sa.String(64)),
    sa.Column("slots", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("last_heartbeat_at", Moment()),
    # Hashes: the robot's own credential, and the one-time token that obtains it.
    sa.Column("credential_hash", sa.String(64), unique=True),
    sa.Column("enrollment_hash", sa.String(64), unique=True),
    sa.Column("enrollment_expires_at", Moment()),
    sa.Column("deleted_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.Index(
        "uq_robots_live_name",
        "account_id",
        "name",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

robot_groups = sa.Table(
    "robot_groups",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("deleted_at", Moment()),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    sa.Index(
        "uq_robot_groups_live_name",
        "account_id",
        "name",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

robot_group_members = sa.Table(
    "robot_group_members",
    metadata,
    sa.Column("group_seq", BigId, sa.ForeignKey("robot_groups.seq"), primary_key=True),
    sa.Column("robot_seq", BigId, sa.ForeignKey("robots.seq"), primary_key=True),
    sa.Index("ix_robot_group_members_robot", "robot_seq"),
)

# One row per package instance: its dispatch state. Rows are changed only by a transaction
# that holds the instance's row lock, or (heartbeats) by a conditional update of the lease.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("robot_seq", BigId, sa.ForeignKey("robots.seq")),
    sa.Column("fencing", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("retry_backoff", sa.Integer, nullable=False, server_default="60"),
    sa.Column("min_version", sa.String(64)),
    # min_version in a form that sorts like a version (domain.robots.version_key).
    sa.Column("version_key", sa.String(64)),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("target_robot_seq", BigId, sa.ForeignKey("robots.seq")),
    sa.Column("target_group_seq", BigId, sa.ForeignKey("robot_groups.seq")),
    sa.Column("ready_at", Moment()),
    sa.Column("lease_expires_at", Moment()),
    sa.Column("deadline_at", Moment()),
    sa.Column("escalate_at", Moment()),
    sa.Column("stop_after", Moment()),
    sa.Column("abort_after", Moment()),
    sa.Column("log_lines", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress_events", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Column("updated_at", Moment(), nullable=False),
    # The claim reads only pending rows; the dispatch loop only expiring and due ones.
    sa.Index(
        "ix_jobs_ready",
        "account_id",
        "ready_at",
        "instance_seq",
        sqlite_where=sa.text("ready_at IS NOT NULL"),
        postgresql_where=sa.text("ready_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_jobs_lease",
        "lease_expires_at",
        sqlite_where=sa.text("lease_expires_at IS NOT NULL"),
        postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_jobs_deadline",
        "deadline_at",
        sqlite_where=sa.text("deadline_at IS NOT NULL"),
        postgresql_where=sa.text("deadline_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_jobs_held",
        "robot_seq",
        sqlite_where=sa.text("lease_expires_at IS NOT NULL"),
        postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
    ),
)

# A job's required tags, one row each, so the claim can test "all of them" in SQL.
job_tags = sa.Table(
    "job_tags",
    metadata,
    sa.Column("instance_seq", BigId, sa.ForeignKey("jobs.instance_seq"), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
)

job_logs = sa.Table(
    "job_logs",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False),
    sa.Column("at", Moment(), nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_job_logs_instance", "instance_seq", "seq"),
)

job_artifacts = sa.Table(
    "job_artifacts",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("instance_seq", BigId, sa.ForeignKey("instances.seq"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(127), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.UniqueConstraint("instance_seq", "name"),
)

# -- Sherpa dialect (issue 5): version labels and deletion, robot-reported fields, robot logs --
# Columns added by migration 0008. A version gets a public guid, a label and a description of
# its own (Sherpa names versions), and may be deleted: a deleted version is never current and
# starts nothing new, while its instances stay readable.
process_versions.append_column(sa.Column("guid", sa.String(36), unique=True))
process_versions.append_column(
    sa.Column("label", sa.String(255), nullable=False, server_default=""))
process_versions.append_column(
    sa.Column("description", sa.Text, nullable=False, server_default=""))
process_versions.append_column(sa.Column("deleted_at", Moment()))
# What a robot reports about itself besides its machine: network address and the status it
# says it is in (Sherpa robots send 0-3); null status: never reported.
robots.append_column(sa.Column("ip", sa.String(64), nullable=False, server_default=""))
robots.append_column(sa.Column("mac", sa.String(64), nullable=False, server_default=""))
robots.append_column(sa.Column("reported_status", sa.SmallInteger))

# An account's robot log: lines a robot or a program writes, each optionally about a robot, a
# version and an instance (Sherpa's Log object); job_logs stay the per-run stream.
robot_logs = sa.Table(
    "robot_logs",
    metadata,
    sa.Column("seq", BigId, primary_key=True),
    sa.Column("guid", sa.String(36), nullable=False, unique=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("robot_seq", BigId),
    sa.Column("version_id", BigId),
    sa.Column("instance_seq", BigId),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", Moment(), nullable=False),
    sa.Index("ix_robot_logs_account", "account_id", "created_at", "seq"),
)
