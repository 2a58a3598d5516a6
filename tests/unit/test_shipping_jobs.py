"""A carrier connection's scheduled jobs: tracking polls and label reconciliation."""

from __future__ import annotations

from hub import tables as t
from hub.scheduling import connection_jobs
from tests import shipping_fakes
from tests.shipping_fakes import FakeCarrier

fake_carrier = shipping_fakes.fake_carrier


def carrier(schedule: dict | None = None, enabled: bool = True) -> t.Connection:
    return t.Connection(
        id=7,
        kind="carrier",
        connector="fake_carrier",
        name="c",
        webhook_key="k",
        enabled=enabled,
        settings={},
        schedule=schedule or {},
    )


def test_carrier_jobs_follow_capabilities_and_schedule(fake_carrier: type[FakeCarrier]) -> None:
    jobs = {job_id: every for job_id, (_f, every) in connection_jobs(carrier()).items()}
    assert jobs == {"refresh_tracking:7": 300, "reconcile_labels:7": 120}
    custom = connection_jobs(carrier({"refresh_tracking": 60}))
    assert custom["refresh_tracking:7"][1] == 60
    assert connection_jobs(carrier(enabled=False)) == {}
