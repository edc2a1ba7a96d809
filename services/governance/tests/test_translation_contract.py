"""A ``governance.telemetry.received`` that breaks its contract is parked at once, and the error
kept in the dead-letter headers and the logs names its fields without quoting their values."""

from __future__ import annotations

import uuid

import pytest

from spectral_governance.testing import Governance
from spectral_shared.bus import Actor, Envelope
from spectral_shared.bus.handlers import ContractBroken
from spectral_shared.testing import fire


def test_a_broken_telemetry_notice_names_fields_and_quotes_nothing(gov: Governance) -> None:
    envelope = Envelope(
        type="governance.telemetry.received",
        organization_id=uuid.UUID(gov.organization),
        actor=Actor.system("test"),
        data={"note": "Patient Jane Doe, SSN 123-45-6789", "event_ids": "MRN 4471"},
    )
    with pytest.raises(ContractBroken) as refused:
        fire(gov.runtime, "governance.translation", envelope)
    text = str(refused.value)
    assert "event_ids" in text and "does not match its contract" in text
    assert "Jane Doe" not in text and "123-45-6789" not in text and "4471" not in text
