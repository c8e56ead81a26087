"""Timers run on the `now` each call is given, never on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_engine_support import NOW, Run, diagram

HOUR = timedelta(hours=1)
pytestmark = pytest.mark.usefixtures("script_host")


def test_duration_timer_fires_when_due_and_not_before():
    run = Run("timer_duration")
    assert run.status == "waiting"
    assert run.state_of("Pause") == "waiting"
    assert run.step.wake_at == NOW + HOUR
    run.advance(NOW + timedelta(minutes=59))
    assert run.status == "waiting"
    assert run.step.wake_at == NOW + HOUR  # still due at the same time after a restore
    run.advance(NOW + HOUR)
    assert run.status == "completed"
    assert run.variables == {"fired": True}
    assert run.step.wake_at is None


def test_late_advance_still_fires():
    run = Run("timer_duration")
    run.advance(NOW + timedelta(days=3))
    assert run.status == "completed"


def test_timer_due_time_is_counted_from_when_it_was_reached():
    run = Run("timer_duration", now=NOW + timedelta(days=1))
    assert run.step.wake_at == NOW + timedelta(days=1) + HOUR


def test_boundary_timer_interrupts_a_user_task():
    run = Run("timer_boundary")
    assert run.states() == {"Start": ["completed"], "Approve": ["waiting"],
                            "TooLate": ["waiting"], "Remind": ["waiting"]}
    assert run.step.wake_at == NOW + HOUR  # the hourly reminder comes first
    run.advance(NOW + timedelta(days=1))
    assert run.status == "completed"
    assert run.variables["escalated"] is True
    assert run.state_of("Approve") == "cancelled"
    assert run.state_of("TooLate") == "completed"


def test_repeating_boundary_timer_does_not_interrupt():
    run = Run("timer_boundary")
    run.advance(NOW + HOUR)
    run.advance(NOW + 2 * HOUR)
    assert run.status == "waiting"
    assert run.state_of("Approve") == "waiting"
    assert run.states()["Nudge"] == ["completed", "completed"]
    assert len(run.records.list("Reminder")) == 2
    assert run.step.wake_at == NOW + 3 * HOUR
    run.complete("Approve")
    assert run.status == "completed"
    assert run.state_of("TooLate") == "cancelled" and run.state_of("Remind") == "cancelled"


def test_iso_date_timers_literal_and_computed():
    run = Run("timer_date", {"deadline": "2031-02-01T10:00:00+01:00"})
    assert run.step.wake_at == datetime(2031, 1, 1, tzinfo=UTC)
    run.advance(datetime(2030, 12, 31, 23, 59, tzinfo=UTC))
    assert run.state_of("NewYear") == "waiting"
    run.advance(datetime(2031, 1, 1, tzinfo=UTC))
    assert run.state_of("NewYear") == "completed"
    assert run.step.wake_at == datetime(2031, 2, 1, 9, tzinfo=UTC)
    run.advance(datetime(2031, 2, 1, 9, tzinfo=UTC))
    assert run.status == "completed"


def test_a_date_already_past_fires_at_once():
    run = Run("timer_date", {"deadline": "2000-01-01"}, now=datetime(2031, 6, 1, tzinfo=UTC))
    assert run.status == "completed"


def test_timer_start_event():
    run = Run("timer_start", {"x": 1})
    assert run.status == "waiting" and run.state_of("Later") == "waiting"
    assert run.step.wake_at == NOW + timedelta(minutes=30)
    run.advance(NOW + timedelta(minutes=30))
    assert run.status == "completed"
    assert run.variables == {"x": 1, "started": True}


@pytest.mark.parametrize("value", ['"soon"', "1 / 0"])
def test_a_bad_computed_timer_fails_the_instance_naming_the_event(value):
    run = Run(diagram(f"""
        <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T" />
        <bpmn:intermediateCatchEvent id="T"><bpmn:timerEventDefinition>
          <bpmn:timeDuration>{value}</bpmn:timeDuration></bpmn:timerEventDefinition>
        </bpmn:intermediateCatchEvent>
        <bpmn:sequenceFlow id="f2" sourceRef="T" targetRef="E" /><bpmn:endEvent id="E" />"""))
    assert run.status == "failed"
    assert run.step.failed_element_id == "T"
    assert (run.step.error or "").startswith("intermediate catch event 'T' failed")
    assert run.state_of("T") == "failed"
