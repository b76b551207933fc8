"""The bridge's pure rules: who may manage an adapter, replays, inbound status, event shapes (NewEvent only)."""
import pytest

from agora.errors import Conflict, Forbidden, ValidationFailed
from agora.events import NewEvent
from agora.events import registry
from backoffice_bridge import domain

HOOK = {"type": "webhook", "format": "csv", "url": "https://erp.example/hook", "enabled": True, "max_attempts": 14}


def test_a_partner_owns_what_it_registers_and_staff_keep_the_owner():
    ev = domain.configure_adapter(None, "erp", HOOK, person="p-alice", staff=False, has_secret=True)
    assert isinstance(ev, NewEvent) and ev.type == "DeliveryConfigured"
    assert ev.data["owned_by"] == "p-alice" and ev.data["configured_by"] == "p-alice"
    assert "secret" not in ev.data and "secret_sha256" not in ev.data
    changed = domain.configure_adapter(ev.data, "erp", dict(HOOK, enabled=False), person="p-admin", staff=True,
                                       has_secret=True)
    assert changed.data["owned_by"] == "p-alice" and changed.data["configured_by"] == "p-admin"
    by_staff = domain.configure_adapter(None, "x", HOOK, person="p-admin", staff=True, has_secret=True)
    assert by_staff.data["owned_by"] is None


def test_a_partner_cannot_take_another_partners_adapter_nor_a_drop_folder():
    mine = domain.configure_adapter(None, "erp", HOOK, person="p-alice", staff=False, has_secret=True).data
    with pytest.raises(Conflict) as exc:
        domain.configure_adapter(mine, "erp", HOOK, person="p-bob", staff=False, has_secret=True)
    assert exc.value.details["reason"] == "adapter_id_taken"
    with pytest.raises(Forbidden):
        domain.configure_adapter(None, "d", {"type": "drop_folder", "format": "akn", "folder": "x"},
                                 person="p-bob", staff=False, has_secret=False)
    with pytest.raises(ValidationFailed):
        domain.configure_adapter(None, "new", HOOK, person="p-bob", staff=False, has_secret=False)


def test_the_new_event_validates_against_the_contract_and_v1_is_upcast():
    ev = domain.configure_adapter(None, "erp", HOOK, person="p-alice", staff=False, has_secret=True)
    registry.validate("DeliveryConfigured", ev.data)
    version, data = registry.upcast("DeliveryConfigured", 1, {"adapter_id": "erp", "type": "webhook",
                                                              "format": "csv", "secret_sha256": "ab" * 32,
                                                              "configured_by": "ada@city"})
    assert version == 2 and "secret_sha256" not in data and data["configured_by"] == "" and data["owned_by"] is None


@pytest.mark.parametrize("status, force, ok", [("dead_lettered", False, True), ("cancelled", False, True),
                                               ("succeeded", False, False), ("succeeded", True, True),
                                               ("pending", True, False), ("in_flight", True, False)])
def test_replay_rules(status, force, ok):
    if ok:
        domain.check_replay(status, force)
    else:
        with pytest.raises(Conflict):
            domain.check_replay(status, force)


@pytest.mark.parametrize("codes, status", [([200, 200], 200), ([404], 404), ([409, 409], 409), ([200, 404], 207),
                                           ([404, 409], 207)])
def test_inbound_status(codes, status):
    assert domain.inbound_status(codes) == status
