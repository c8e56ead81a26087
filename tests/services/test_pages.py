"""Page sizes are checked in the services, for every front door."""

from __future__ import annotations

import pytest

from flowport.errors import BadInput
from flowport.services import instances, processes
from flowport.services.auth import list_audit


@pytest.mark.parametrize("limit", [0, -1, 501, True, "10", 2.5])
def test_a_limit_out_of_range_is_refused_by_every_list(ctx, admin, limit):
    calls = [lambda: processes.list_processes(ctx, admin, processes.ListProcesses(limit=limit)),
             lambda: instances.list_instances(ctx, admin, instances.ListInstances(limit=limit)),
             lambda: list_audit(ctx, admin, None, limit)]
    for call in calls:
        with pytest.raises(BadInput) as refused:
            call()
        assert refused.value.field == "limit"


def test_the_setting_caps_what_a_page_holds(ctx, admin):
    ctx.settings.max_page_size = 2
    for key in ("a", "b", "c"):
        processes.create_process(ctx, admin, processes.CreateProcess(key=key))
    page = processes.list_processes(ctx, admin, processes.ListProcesses(limit=500))
    assert [p.key for p in page.items] == ["a", "b"] and page.next_cursor is not None
