import pytest

from flowport.domain.instances import FINAL, TRANSITIONS, Status, check_transition
from flowport.errors import InvalidTransition


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_statuses_go_nowhere(final):
    for target in Status:
        with pytest.raises(InvalidTransition):
            check_transition(final, target)


@pytest.mark.parametrize(("current", "target"), [
    (Status.PENDING, Status.RUNNING),
    (Status.RUNNING, Status.WAITING),
    (Status.WAITING, Status.COMPLETED),
    (Status.WAITING, Status.STOPPED),
    (Status.STOPPING, Status.ABORTING),
    (Status.ABORTING, Status.ABORTED),
    (Status.WAITING, Status.WAITING),
])
def test_allowed(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [
    (Status.ABORTING, Status.STOPPED),
    (Status.STOPPING, Status.RUNNING),
    (Status.RUNNING, Status.CREATED),
    (Status.COMPLETED, Status.RUNNING),
])
def test_refused(current, target):
    with pytest.raises(InvalidTransition, match=current.value):
        check_transition(current, target)


def test_stops_always_have_an_end():
    # Nothing hangs: every intermediate stop state can reach a final state.
    for status in (Status.STOPPING, Status.ABORTING):
        assert TRANSITIONS[status] & FINAL
