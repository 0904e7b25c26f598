"""MeterOracle through its Python client: commitments, corrections (bound to the grid area of
the meter's holder), proofs and every revert."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.domain import Role
from chain.errors import revert_error
from chain.oracle_signing import batch_digest, sign_batch
from chain.oracles import MeterOracleClient
from chain.platform import make_sender
from core.codec import text_to_bytes32
from core.oracle_codec import MeterValue, leaf_hash, merkle_root, pack_reading
from tests.oracles.conftest import METERS, past_interval

pytestmark = pytest.mark.usefixtures("snapshot")


def values_for(interval: int, meters: list[str], base: int = 100) -> list[MeterValue]:
    return [MeterValue(m, interval, base + 3 * i, (7 * i) % 50) for i, m in enumerate(meters)]


def test_batch_is_committed_with_its_values_in_the_event(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    values = values_for(interval, METERS[:40])
    receipt = client.commit(oracles.oracle, values, nonce=1)
    assert sorted(client.committed_in(receipt), key=lambda v: v.meter_id) == values
    [event] = client.events(receipt, "MeterReadingsCommitted")
    assert event["args"]["oracle"] == oracles.oracle.address  # the signer, not the relayer
    assert receipt["from"] == oracles.relayer.address
    root = bytes(event["args"]["root"])
    _, words = client.words(values)
    assert root == merkle_root([leaf_hash(interval, w) for w in words])
    assert client.root_interval(root) == interval
    assert client.is_committed(METERS[0], interval)
    assert not client.is_committed(METERS[40], interval)
    assert not client.is_committed(METERS[0], interval - 900)


def test_python_digest_equals_the_contracts(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    words = [pack_reading(i, 10 * i, i) for i in range(5)]
    for correction in (False, True):
        kind = "MeterCorrection" if correction else "MeterBatch"
        ours = batch_digest(kind, client.chain_id, client.address, interval, words, 42)
        assert ours == client.batch_digest(interval, words, 42, correction)


def test_merkle_proof_verifies_each_value_and_rejects_others(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    values = values_for(interval, METERS[:7])  # odd count: a node is carried up
    receipt = client.commit(oracles.oracle, values, nonce=2)
    root = bytes(client.events(receipt, "MeterReadingsCommitted")[0]["args"]["root"])
    for v in values:
        assert client.verify_reading(v, root, client.proof_for(v, values))
    v = values[3]
    wrong = MeterValue(v.meter_id, v.interval_start_s, v.import_wh + 1, v.export_wh)
    assert not client.verify_reading(wrong, root, client.proof_for(v, values))


def test_second_commitment_of_a_meter_and_interval_reverts(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    client.commit(oracles.oracle, values_for(interval, METERS[:10]), nonce=3)
    # METERS[9] again, in a batch that is otherwise new
    again = values_for(interval, METERS[9:12], base=999)
    with pytest.raises(revert_error("MeterOracleAlreadyCommitted")) as info:
        client.commit(oracles.oracle, again, nonce=4)
    assert info.value.args_by_name == {
        "meterId": text_to_bytes32(METERS[9]),
        "intervalStart": interval,
    }
    # the same meter twice in one batch
    twice = [MeterValue(METERS[20], interval, 1, 0), MeterValue(METERS[20], interval, 2, 0)]
    with pytest.raises(revert_error("MeterOracleAlreadyCommitted")):
        client.commit(oracles.oracle, twice, nonce=5)


def test_meters_beyond_one_bitmap_word_are_tracked(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    client.commit(oracles.oracle, values_for(interval, METERS[250:300]), nonce=6)
    client.commit(oracles.oracle, values_for(interval, METERS[0:250]), nonce=7)
    with pytest.raises(revert_error("MeterOracleAlreadyCommitted")) as info:
        client.commit(oracles.oracle, values_for(interval, [METERS[299]]), nonce=8)
    assert info.value.args_by_name["meterId"] == text_to_bytes32(METERS[299])


def test_correction_has_its_own_event_and_keeps_the_original(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    original = values_for(interval, METERS[:5])
    r1 = client.commit(oracles.oracle, original, nonce=10)
    root1 = bytes(client.events(r1, "MeterReadingsCommitted")[0]["args"]["root"])
    fixed = [MeterValue(METERS[2], interval, 5_000, 12)]
    r2 = client.commit(oracles.oracle, fixed, nonce=11, correction=True)
    assert client.corrected_in(r2) == fixed
    root2 = bytes(client.events(r2, "MeterReadingCorrected")[0]["args"]["root"])
    assert client.correction_root(METERS[2], interval) == root2
    trail = [c.value for c in client.history() if c.value.meter_id == METERS[2]]
    assert trail == [original[2], fixed[0]]
    assert client.current_values()[(METERS[2], interval)].value == fixed[0]
    # the replaced value no longer verifies, the correction does; others keep their root
    assert not client.verify_reading(original[2], root1, client.proof_for(original[2], original))
    assert client.verify_reading(fixed[0], root2, client.proof_for(fixed[0], fixed))
    assert client.verify_reading(original[1], root1, client.proof_for(original[1], original))


def test_correction_of_an_uncommitted_value_reverts(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    with pytest.raises(revert_error("MeterOracleNotCommitted")) as info:
        client.commit(oracles.oracle, values_for(interval, METERS[:1]), 12, correction=True)
    assert info.value.args_by_name["intervalStart"] == interval


def test_future_and_misaligned_intervals_revert(oracles, w3):
    client = oracles.meter()
    now = int(w3.eth.get_block("latest")["timestamp"])
    current = (now // 900) * 900  # has not ended yet
    with pytest.raises(revert_error("MeterOracleFutureInterval")) as info:
        client.commit(oracles.oracle, values_for(current, METERS[:2]), nonce=13)
    assert info.value.args_by_name["intervalStart"] == current
    assert info.value.args_by_name["now"] >= now
    words = [pack_reading(0, 1, 1)]
    signed = sign_batch(
        oracles.oracle, "MeterBatch", client.chain_id, client.address, 900, words, 14
    )
    bad = replace(signed, interval_start_s=900 + 60)
    with pytest.raises(revert_error("MeterOracleMisalignedInterval")):
        client.submit(bad)


def test_forged_signature_reverts_with_the_recovered_address(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    forger = oracles.outsider  # not an oracle
    with pytest.raises(revert_error("MeterOracleBadSignature")) as info:
        client.commit(forger, values_for(interval, METERS[:3]), nonce=15)
    assert info.value.args_by_name == {"recovered": forger.address}


def test_tampered_values_and_garbage_signatures_revert(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    signed = client.sign(oracles.oracle, values_for(interval, METERS[:3]), nonce=16)
    tampered = replace(signed, words=(signed.words[0] + (1 << 96), *signed.words[1:]))
    with pytest.raises(revert_error("MeterOracleBadSignature")) as info:
        client.submit(tampered)
    assert info.value.args_by_name["recovered"] != oracles.oracle.address
    garbage = replace(signed, signature=b"\x01" * 65)
    with pytest.raises(revert_error("MeterOracleBadSignature")) as info:
        client.submit(garbage)
    assert info.value.args_by_name["recovered"] == "0x" + "00" * 20
    # a signed commitment cannot be relayed as a correction
    as_correction = replace(signed, kind="MeterCorrection")
    with pytest.raises(revert_error("MeterOracleBadSignature")):
        client.submit(as_correction)
    client.submit(signed)  # the genuine one still goes through


def test_replayed_submission_reverts_with_nonce_used(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    signed = client.sign(oracles.oracle, values_for(interval, METERS[:3]), nonce=17)
    client.submit(signed)
    assert client.nonce_used(oracles.oracle.address, 17)
    with pytest.raises(revert_error("MeterOracleNonceUsed")) as info:
        oracles.meter(oracles.outsider).submit(signed)  # another relayer, same signed batch
    assert info.value.args_by_name == {"signer": oracles.oracle.address, "nonce": 17}
    # the same nonce on different data is a replay too
    other = client.sign(oracles.oracle, values_for(interval - 900, METERS[:3]), nonce=17)
    with pytest.raises(revert_error("MeterOracleNonceUsed")):
        client.submit(other)


def test_deactivated_oracle_can_no_longer_sign(oracles, w3, admin):
    client = oracles.meter()
    interval = past_interval(w3)
    oracles.platform.registry(admin).deactivate(oracles.oracle.address)
    with pytest.raises(revert_error("MeterOracleBadSignature")) as info:
        client.commit(oracles.oracle, values_for(interval, METERS[:2]), nonce=18)
    assert info.value.args_by_name["recovered"] == oracles.oracle.address


def test_batch_shape_errors(oracles, w3):
    client = oracles.meter()
    interval = past_interval(w3)
    chain_id, address = client.chain_id, client.address

    def submit(words: list[int], nonce: int) -> None:
        client.submit(
            sign_batch(oracles.oracle, "MeterBatch", chain_id, address, interval, words, nonce)
        )

    with pytest.raises(revert_error("MeterOracleEmptyBatch")):
        submit([], 19)
    with pytest.raises(revert_error("MeterOracleUnsortedBatch")) as info:
        submit([pack_reading(5, 1, 0), pack_reading(2, 1, 0)], 20)
    assert info.value.args_by_name == {"position": 1, "meterIndex": 2}
    with pytest.raises(revert_error("MeterOracleUnknownMeter")) as info:
        submit([pack_reading(1, 1, 0), pack_reading(len(METERS), 1, 0)], 21)
    assert info.value.args_by_name == {"meterIndex": len(METERS)}


def test_enrolment_rules(oracles, w3, artifacts):
    with pytest.raises(revert_error("MeterOracleNotOracle")) as info:
        oracles.meter(oracles.outsider).enrol_meters(["meter-x"])
    assert info.value.args_by_name == {"account": oracles.outsider.address}
    client = oracles.meter(oracles.oracle)
    with pytest.raises(revert_error("MeterOracleMeterAlreadyEnrolled")):
        client.enrol_meters([METERS[0]])
    with pytest.raises(revert_error("MeterOracleZeroMeterId")):
        client.enrol_meters([""])
    receipt = client.enrol_meters(["meter-new"])
    [event] = client.events(receipt, "MeterEnrolled")
    assert event["args"]["meterIndex"] == len(METERS)
    assert client.index_of("meter-new") == len(METERS)
    with pytest.raises(revert_error("MeterOracleUnknownMeterId")):
        client.is_committed("never-enrolled", past_interval(w3))


def test_constructor_refuses_a_zero_registry(oracles, artifacts, admin):
    from chain.deploy import deploy_contract

    w3 = oracles.platform.w3
    with pytest.raises(revert_error("MeterOracleZeroAddress")):
        deploy_contract(
            w3, make_sender(w3, admin, artifacts), artifacts["MeterOracle"], "0x" + "00" * 20
        )


def test_a_second_registered_oracle_signs_too(oracles, w3, admin):
    second = Account.create()
    oracles.platform.registry(admin).register(second.address, Role.ORACLE, "feeder-2")
    client = oracles.meter()
    interval = past_interval(w3)
    receipt = client.commit(second, values_for(interval, METERS[:2]), nonce=1)
    assert client.events(receipt, "MeterReadingsCommitted")[0]["args"]["oracle"] == second.address
    assert isinstance(client, MeterOracleClient)


# -- corrections bound to the grid area of the meter's holder ------------------------------------
def registered(oracles, admin, role: Role, area: str, meter: str = "") -> LocalAccount:
    account: LocalAccount = Account.create()
    oracles.platform.registry(admin).register(account.address, role, area, meter)
    return account


def test_a_meter_backs_one_participant_and_names_its_grid_area(oracles, admin):
    registry = oracles.platform.registry(admin)
    assert registry.meter_holder(METERS[0]) is None
    holder = registered(oracles, admin, Role.PROSUMER, "feeder-2", METERS[0])
    assert registry.meter_holder(METERS[0]) == (holder.address, "feeder-2")
    other = Account.create()
    with pytest.raises(revert_error("ParticipantRegistryMeterIdTaken")) as info:
        registry.register(other.address, Role.PROSUMER, "feeder-1", METERS[0])
    assert info.value.args_by_name == {
        "account": other.address,
        "meterId": text_to_bytes32(METERS[0]),
        "holder": holder.address,
    }
    assert not registry.participant(other.address).registered


def test_an_oracle_of_another_grid_area_cannot_correct_a_meter(oracles, w3, admin):
    registered(oracles, admin, Role.PROSUMER, "feeder-1", METERS[0])
    registered(oracles, admin, Role.PROSUMER, "feeder-2", METERS[1])
    feeder1 = registered(oracles, admin, Role.ORACLE, "feeder-1")
    feeder2 = registered(oracles, admin, Role.ORACLE, "feeder-2")
    client = oracles.meter()
    interval = past_interval(w3)
    original = values_for(interval, METERS[:2])
    client.commit(feeder2, original, nonce=1)  # first commitments are not bound to the area
    fixed = [MeterValue(METERS[0], interval, 9_999, 0)]
    with pytest.raises(revert_error("MeterOracleCorrectionOutsideGridArea")) as info:
        client.commit(feeder2, fixed, nonce=2, correction=True)
    assert info.value.args_by_name == {
        "meterId": text_to_bytes32(METERS[0]),
        "meterGridArea": text_to_bytes32("feeder-1"),
        "oracle": feeder2.address,
        "oracleGridArea": text_to_bytes32("feeder-2"),
    }
    assert client.current_values()[(METERS[0], interval)].value == original[0]
    # the oracle of the holder's grid area may
    client.commit(feeder1, fixed, nonce=3, correction=True)
    assert client.current_values()[(METERS[0], interval)].value == fixed[0]
    # a batch is refused whole, naming its first meter of another area
    both = [MeterValue(METERS[0], interval, 1, 0), MeterValue(METERS[1], interval, 2, 0)]
    with pytest.raises(revert_error("MeterOracleCorrectionOutsideGridArea")) as info:
        client.commit(feeder1, both, nonce=4, correction=True)
    assert info.value.args_by_name["meterId"] == text_to_bytes32(METERS[1])
    assert info.value.args_by_name["meterGridArea"] == text_to_bytes32("feeder-2")
    assert client.current_values()[(METERS[0], interval)].value == fixed[0]


def test_the_meter_admin_role_corrects_any_meter_and_needs_an_oracle(oracles, w3, admin):
    registry = oracles.platform.registry(admin)
    registered(oracles, admin, Role.PROSUMER, "feeder-2", METERS[1])
    feeder1 = registered(oracles, admin, Role.ORACLE, "feeder-1")
    client = oracles.meter()
    interval = past_interval(w3)
    client.commit(feeder1, values_for(interval, METERS[:2]), nonce=1)
    fixed = [MeterValue(METERS[0], interval, 7, 0), MeterValue(METERS[1], interval, 8, 0)]
    # METERS[0] is held by no participant: no oracle's grid area is its own
    with pytest.raises(revert_error("MeterOracleCorrectionOutsideGridArea")) as info:
        client.commit(feeder1, fixed, nonce=2, correction=True)
    assert info.value.args_by_name["meterGridArea"] == b"\0" * 32
    registry.grant_role("METER_ADMIN_ROLE", feeder1.address)
    receipt = client.commit(feeder1, fixed, nonce=3, correction=True)
    assert client.corrected_in(receipt) == fixed
    # the role lifts the grid area, not the need to be an active oracle
    meter_admin = Account.create()
    registry.grant_role("METER_ADMIN_ROLE", meter_admin.address)
    with pytest.raises(revert_error("MeterOracleBadSignature")) as info:
        client.commit(meter_admin, fixed, nonce=1, correction=True)
    assert info.value.args_by_name == {"recovered": meter_admin.address}
    registry.deactivate(feeder1.address)
    with pytest.raises(revert_error("MeterOracleBadSignature")):
        client.commit(feeder1, fixed, nonce=4, correction=True)
