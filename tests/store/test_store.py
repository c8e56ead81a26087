"""Store contract tests: the same file runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from flowport.domain.accounts import Permission, Role
from flowport.domain.instances import Status
from flowport.domain.processes import ContentKind, ProcessType
from flowport.errors import BadInput, RevisionConflict
from flowport.store import Duplicate, ElementChange, Store


@pytest.fixture
def seeded(store: Store, clock):
    """One account with a process, a version and a waiting instance."""
    now = clock.now()
    with store.transaction() as tx:
        account = tx.create_account("acme", now)
        process = tx.insert_process(account.id, "p", str(uuid.uuid4()), "P", "",
                                    ProcessType.BPMN, None, now)
        version = tx.insert_version(account.id, process.id, 1, "0" * 64, "p.bpmn",
                                    ContentKind.BPMN, b"<x/>", "{}", "p", None, [], [], now)
        instance_id = str(uuid.uuid4())
        tx.insert_instance(id=instance_id, account_id=account.id, process_id=process.id,
                           version_id=version.id, status=Status.WAITING, variables={"a": 1},
                           business_key="bk", idempotency_key=None, now=now)
    return account, process, version, instance_id


def test_instance_round_trip_keeps_types(store, seeded, clock):
    account, _process, _version, instance_id = seeded
    with store.transaction(write=False) as tx:
        instance = tx.fetch_instance(account.id, instance_id)
    assert instance is not None
    assert instance.status is Status.WAITING
    assert instance.variables == {"a": 1}
    assert instance.process_key == "p" and instance.version_number == 1
    assert instance.created_at == clock.now()
    assert instance.created_at.tzinfo is not None


def test_other_account_sees_nothing(store, seeded, clock):
    _account, _, _, instance_id = seeded
    with store.transaction() as tx:
        other = tx.create_account("globex", clock.now())
        assert tx.fetch_instance(other.id, instance_id) is None
        assert tx.fetch_process(other.id, "p") is None
        with pytest.raises(LookupError):
            tx.lock_instance(other.id, instance_id)


def test_revision_check_refuses_a_stale_write(store, seeded, clock):
    account, _, _, instance_id = seeded
    with store.transaction(write=False) as tx:
        stale = tx.fetch_instance(account.id, instance_id)
    assert stale is not None
    with store.transaction() as tx:
        assert tx.save_instance(stale, clock.now(), status=Status.RUNNING) == 1
    with pytest.raises(RevisionConflict), store.transaction() as tx:
        tx.save_instance(stale, clock.now(), status=Status.COMPLETED)
    with store.transaction(write=False) as tx:
        current = tx.fetch_instance(account.id, instance_id)
    assert current is not None
    assert current.status is Status.RUNNING and current.revision == 1


def test_lock_serializes_concurrent_writers(store, seeded, clock):
    """Two transactions lock the same instance: the second waits for the first and then sees
    its write, so neither overwrites the other."""
    account, _, _, instance_id = seeded
    first_holds_lock = threading.Event()
    release = threading.Event()
    seen: list[int] = []

    def first():
        with store.transaction() as tx:
            instance, _ = tx.lock_instance(account.id, instance_id)
            first_holds_lock.set()
            release.wait(5)
            tx.save_instance(instance, clock.now(), variables={"a": 2})

    def second():
        first_holds_lock.wait(5)
        with store.transaction() as tx:
            instance, _ = tx.lock_instance(account.id, instance_id)
            seen.append(instance.revision)
            tx.save_instance(instance, clock.now(), variables={"a": 3})

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds_lock.wait(5)
    release.set()
    for thread in threads:
        thread.join(10)
    assert seen == [1]
    with store.transaction(write=False) as tx:
        final = tx.fetch_instance(account.id, instance_id)
    assert final is not None and final.revision == 2 and final.variables == {"a": 3}


def test_due_claims_skip_each_other(store, seeded, clock):
    account, process, version, first_id = seeded
    now = clock.now()
    with store.transaction() as tx:
        second_id = str(uuid.uuid4())
        tx.insert_instance(id=second_id, account_id=account.id, process_id=process.id,
                           version_id=version.id, status=Status.WAITING, variables={},
                           business_key=None, idempotency_key=None, now=now)
        for instance_id in (first_id, second_id):
            instance, _ = tx.lock_instance(account.id, instance_id)
            tx.save_instance(instance, now, wake_at=now - timedelta(seconds=1))
    if store.dialect == "sqlite":
        # One writer at a time: the claim and the work share the database lock.
        with store.transaction() as tx:
            assert tx.claim_due_instance(now) is not None
        return
    with store.transaction() as a, store.transaction() as b:
        claimed_a = a.claim_due_instance(now)
        claimed_b = b.claim_due_instance(now)
        assert claimed_a and claimed_b and claimed_a != claimed_b
    with store.transaction(write=False) as tx:
        assert tx.claim_due_instance(now - timedelta(seconds=5)) is None
        assert tx.next_wake_at() == now - timedelta(seconds=1)


def test_idempotency_key_is_unique_per_account(store, seeded, clock):
    account, process, version, _ = seeded

    def insert(key: str) -> None:
        with store.transaction() as tx:
            tx.insert_instance(id=str(uuid.uuid4()), account_id=account.id,
                               process_id=process.id, version_id=version.id,
                               status=Status.RUNNING, variables={}, business_key=None,
                               idempotency_key=key, now=clock.now())

    insert("k1")
    with pytest.raises(Duplicate):
        insert("k1")
    with store.transaction(write=False) as tx:
        found = tx.fetch_instance_by_idempotency_key(account.id, "k1")
    assert found is not None


def test_deleted_process_frees_its_key(store, seeded, clock):
    account, process, _, _ = seeded
    with store.transaction() as tx:
        tx.delete_process(process.id, clock.now())
        assert tx.fetch_process(account.id, "p") is None
        again = tx.insert_process(account.id, "p", str(uuid.uuid4()), "P2", "",
                                  ProcessType.BPMN, None, clock.now())
    assert again.id != process.id


def test_live_keys_are_unique(store, seeded, clock):
    account, _, _, _ = seeded
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.insert_process(account.id, "p", str(uuid.uuid4()), "P", "", ProcessType.BPMN,
                          None, clock.now())


def test_sync_elements_inserts_then_updates(store, seeded, clock):
    account, _, _, instance_id = seeded
    with store.transaction() as tx:
        instance = tx.fetch_instance(account.id, instance_id)
        assert instance is not None
        tx.sync_elements(account.id, instance.seq, [
            ElementChange("u1", "Task_1", "Approve", "userTask", "waiting")], clock.now())
        first = tx.list_elements(instance.seq)
        clock.advance(timedelta(minutes=1))
        tx.sync_elements(account.id, instance.seq, [
            ElementChange("u1", "Task_1", "Approve", "userTask", "completed"),
            ElementChange("u2", "End", None, "endEvent", "completed")], clock.now())
        second = tx.list_elements(instance.seq)
    assert [e.state.value for e in second] == ["completed", "completed"]
    assert second[0].seq == first[0].seq
    assert second[0].created_at < second[0].updated_at


def test_process_pages_walk_everything_once(store, seeded, clock):
    account, _, _, _ = seeded
    with store.transaction() as tx:
        for i in range(7):
            tx.insert_process(account.id, f"k{i}", str(uuid.uuid4()), f"Name {6 - i}", "",
                              ProcessType.BPMN, None, clock.now())
    for order in ("key", "-key", "name", "-name", "created_at", "-created_at"):
        seen, cursor = [], None
        while True:
            with store.transaction(write=False) as tx:
                page = tx.list_processes(account.id, search=None, order=order, cursor=cursor,
                                         limit=3)
            seen += [p.key for p in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(seen) == sorted(["p"] + [f"k{i}" for i in range(7)]), order
        assert len(seen) == 8


@pytest.mark.parametrize("cursor", ["!!", "bm90IGpzb24", "WzEsMiwzXQ"])
def test_bad_cursor(store, seeded, cursor):
    account, _, _, _ = seeded
    with pytest.raises(BadInput), store.transaction(write=False) as tx:
        tx.list_instances(account.id, process_id=None, status=None, business_key=None,
                          cursor=cursor, limit=10)


def test_token_roles_never_exceed_the_user(store, clock):
    now = clock.now()
    with store.transaction() as tx:
        account = tx.create_account("acme", now)
        user = tx.create_user(account.id, "bob", [Role.VIEWER], now)
        tx.create_token(account.id, user, "t", "h" * 64, [Role.ADMIN, Role.VIEWER], now)
        tx.create_token(account.id, user, "old", "e" * 64, [Role.VIEWER], now,
                        expires_at=now - timedelta(seconds=1))
    with store.transaction(write=False) as tx:
        principal = tx.find_principal_by_token("h" * 64, now)
        assert principal is not None
        assert principal.permissions == frozenset({Permission.READ})
        assert tx.find_principal_by_token("e" * 64, now) is None
