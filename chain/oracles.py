"""Typed clients of the MeterOracle and ForecastOracle contracts.

Writes send through the client's :class:`~chain.tx.TxSender` (the relayer: any account);
batches are signed separately by an oracle key (:func:`chain.oracle_signing.sign_batch`), so the
key that signs and the account that pays need not be the same. Reverts raise the contract's
custom errors (``revert_error("MeterOracleAlreadyCommitted")``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.types import TxReceipt

from chain.contracts import ContractClient
from chain.oracle_signing import BatchKind, SignedBatch, sign_batch
from core.codec import bytes32_to_text, text_to_bytes32
from core.errors import OracleError, UnknownMeterError
from core.oracle_codec import (
    ForecastRow,
    MeterValue,
    check_interval_start,
    leaf_hash,
    merkle_proof,
    pack_forecast,
    pack_reading,
    unpack_forecast,
    unpack_reading,
)


@dataclass(frozen=True, slots=True)
class CommittedValue:
    """A meter value as the chain holds it, with the batch root that proves it."""

    value: MeterValue
    root: bytes
    corrected: bool
    block: int
    log_index: int


class _IndexedIds:
    """Cache of an oracle contract's id <-> index enrolment (read from its events)."""

    def __init__(self) -> None:
        self.by_id: dict[str, int] = {}
        self.by_index: dict[int, str] = {}
        self.scanned_to = -1
        self.scanned_hash = b""
        """Hash of block ``scanned_to``: when it changes, a reorg may have dropped enrolments."""


class _BatchOracleClient(ContractClient):
    """What the two oracle clients share: enrolment, signing, relaying, nonces."""

    enrol_fn: str
    enrol_event: str
    id_arg: str
    commit_kind: str
    revise_kind: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ids = _IndexedIds()

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def enrol(self, ids: Iterable[str]) -> TxReceipt:
        """Enrol ids (text of at most 32 bytes); the sender must be an active oracle."""
        return self._transact(self.enrol_fn, [text_to_bytes32(i, "id") for i in ids])

    def forget_ids(self) -> None:
        """Drop the enrolment cache (after a reorg): the next lookup reads the events again."""
        self._ids = _IndexedIds()

    def _refresh_ids(self) -> None:
        head = int(self.w3.eth.block_number)
        if self._ids.scanned_to >= 0 and (
            head < self._ids.scanned_to
            or bytes(self.w3.eth.get_block(self._ids.scanned_to)["hash"]) != self._ids.scanned_hash
        ):
            self.forget_ids()  # the blocks the cache was read from left the chain
        if head <= self._ids.scanned_to:
            return
        event = getattr(self.contract.events, self.enrol_event)()
        for log in event.get_logs(from_block=self._ids.scanned_to + 1, to_block=head):
            text = bytes32_to_text(log["args"][self.id_arg])
            index = int(log["args"][self.id_arg.replace("Id", "Index")])
            self._ids.by_id[text] = index
            self._ids.by_index[index] = text
        self._ids.scanned_to = head
        self._ids.scanned_hash = bytes(self.w3.eth.get_block(head)["hash"])

    def index_of(self, ident: str) -> int | None:
        """The enrolment index of ``ident``, or None."""
        if ident not in self._ids.by_id:
            self._refresh_ids()
        return self._ids.by_id.get(ident)

    def id_at(self, index: int) -> str:
        if index not in self._ids.by_index:
            self._refresh_ids()
        try:
            return self._ids.by_index[index]
        except KeyError:
            raise UnknownMeterError(f"#{index}") from None

    def enrolled(self) -> dict[str, int]:
        """Every enrolled id and its index."""
        self._refresh_ids()
        return dict(self._ids.by_id)

    def nonce_used(self, signer: str, nonce: int) -> bool:
        return bool(self._call("nonceUsed", to_checksum_address(signer), nonce))

    def domain_separator(self) -> bytes:
        return bytes(self._call("domainSeparator"))

    def root_interval(self, root: bytes) -> int:
        """Interval start of batch ``root`` (0: unknown root)."""
        return int(self._call("rootInterval", root))


class MeterOracleClient(_BatchOracleClient):
    contract_name = "MeterOracle"
    enrol_fn = "enrolMeters"
    enrol_event = "MeterEnrolled"
    id_arg = "meterId"

    def enrol_meters(self, meter_ids: Iterable[str]) -> TxReceipt:
        return self.enrol(meter_ids)

    def meter_count(self) -> int:
        return int(self._call("meterCount"))

    def words(self, values: Sequence[MeterValue]) -> tuple[int, list[int]]:
        """``(interval_start_s, sorted packed words)`` of one interval's values."""
        if not values:
            raise OracleError("a batch needs at least one meter value")
        interval = check_interval_start(values[0].interval_start_s)
        words = []
        for v in values:
            if v.interval_start_s != interval:
                raise OracleError(f"one batch is one interval: {v.interval_start_s} != {interval}")
            index = self.index_of(v.meter_id)
            if index is None:
                raise UnknownMeterError(v.meter_id)
            words.append(pack_reading(index, v.import_wh, v.export_wh))
        return interval, sorted(words)

    def sign(
        self,
        oracle: LocalAccount,
        values: Sequence[MeterValue],
        nonce: int,
        correction: bool = False,
    ) -> SignedBatch:
        """A signed batch of one interval's values (sorted by meter index)."""
        interval, words = self.words(values)
        kind: BatchKind = "MeterCorrection" if correction else "MeterBatch"
        return sign_batch(oracle, kind, self.chain_id, self.address, interval, words, nonce)

    def submit(self, batch: SignedBatch, gas: int | None = None) -> TxReceipt:
        """Relay a signed batch (commit or correction, by its kind)."""
        fn = "correctReadings" if batch.kind == "MeterCorrection" else "commitReadings"
        return self._transact(
            fn, batch.interval_start_s, list(batch.words), batch.nonce, batch.signature, gas=gas
        )

    def commit(
        self,
        oracle: LocalAccount,
        values: Sequence[MeterValue],
        nonce: int,
        correction: bool = False,
    ) -> TxReceipt:
        """Sign with ``oracle`` and relay with this client's sender."""
        return self.submit(self.sign(oracle, values, nonce, correction))

    def is_committed(self, meter_id: str, interval_start_s: int) -> bool:
        return bool(
            self._call("isCommitted", text_to_bytes32(meter_id, "meter id"), interval_start_s)
        )

    def committed_words(
        self, first_interval_start_s: int, count: int, word_index: int
    ) -> list[int]:
        """Bitmap word ``word_index`` of each of ``count`` intervals from
        ``first_interval_start_s``: bit ``b`` of entry ``k`` is set when the meter of index
        ``256 * word_index + b`` has a commitment for interval ``k`` (``committedWords``)."""
        return [
            int(w) for w in self._call("committedWords", first_interval_start_s, count, word_index)
        ]

    def correction_root(self, meter_id: str, interval_start_s: int) -> bytes:
        return bytes(
            self._call("correctionRoot", text_to_bytes32(meter_id, "meter id"), interval_start_s)
        )

    def verify_reading(self, value: MeterValue, root: bytes, proof: Sequence[bytes]) -> bool:
        return bool(
            self._call(
                "verifyReading",
                text_to_bytes32(value.meter_id, "meter id"),
                value.interval_start_s,
                value.import_wh,
                value.export_wh,
                root,
                list(proof),
            )
        )

    def batch_digest(
        self, interval_start_s: int, words: Sequence[int], nonce: int, correction: bool
    ) -> bytes:
        return bytes(self._call("batchDigest", interval_start_s, list(words), nonce, correction))

    # -- events ---------------------------------------------------------------------------
    def _values(self, interval: int, words: Sequence[int]) -> list[MeterValue]:
        out = []
        for word in words:
            index, imp, exp = unpack_reading(int(word))
            out.append(MeterValue(self.id_at(index), interval, imp, exp))
        return out

    def committed_in(self, receipt: TxReceipt) -> list[MeterValue]:
        """The values a ``commitReadings`` receipt committed."""
        out: list[MeterValue] = []
        for ev in self.events(receipt, "MeterReadingsCommitted"):
            out += self._values(int(ev["args"]["intervalStart"]), ev["args"]["readings"])
        return out

    def corrected_in(self, receipt: TxReceipt) -> list[MeterValue]:
        """The values a ``correctReadings`` receipt committed."""
        return [
            MeterValue(
                bytes32_to_text(ev["args"]["meterId"]),
                int(ev["args"]["intervalStart"]),
                int(ev["args"]["importWh"]),
                int(ev["args"]["exportWh"]),
            )
            for ev in self.events(receipt, "MeterReadingCorrected")
        ]

    def history(self, from_block: int = 0) -> list[CommittedValue]:
        """Every committed and corrected value in chain order (the event trail)."""
        out: list[CommittedValue] = []
        committed = self.contract.events.MeterReadingsCommitted()
        for log in committed.get_logs(from_block=from_block):
            interval = int(log["args"]["intervalStart"])
            for value in self._values(interval, log["args"]["readings"]):
                out.append(
                    CommittedValue(
                        value,
                        bytes(log["args"]["root"]),
                        False,
                        int(log["blockNumber"]),
                        int(log["logIndex"]),
                    )
                )
        corrected = self.contract.events.MeterReadingCorrected()
        for log in corrected.get_logs(from_block=from_block):
            a = log["args"]
            value = MeterValue(
                bytes32_to_text(a["meterId"]),
                int(a["intervalStart"]),
                int(a["importWh"]),
                int(a["exportWh"]),
            )
            out.append(
                CommittedValue(
                    value, bytes(a["root"]), True, int(log["blockNumber"]), int(log["logIndex"])
                )
            )
        out.sort(key=lambda c: (c.block, c.log_index))
        return out

    def current_values(self, from_block: int = 0) -> dict[tuple[str, int], CommittedValue]:
        """The current value of each (meter id, interval start): the latest in the trail."""
        latest: dict[tuple[str, int], CommittedValue] = {}
        for c in self.history(from_block):
            latest[(c.value.meter_id, c.value.interval_start_s)] = c
        return latest

    def proof_for(self, value: MeterValue, batch: Sequence[MeterValue]) -> list[bytes]:
        """Merkle proof of ``value`` in the batch ``batch`` (the values of one root)."""
        interval, words = self.words(batch)
        index = self.index_of(value.meter_id)
        assert index is not None
        word = pack_reading(index, value.import_wh, value.export_wh)
        leaves = [leaf_hash(interval, w) for w in words]
        return merkle_proof(leaves, words.index(word))


class ForecastOracleClient(_BatchOracleClient):
    contract_name = "ForecastOracle"
    enrol_fn = "enrolParticipants"
    enrol_event = "ForecastParticipantEnrolled"
    id_arg = "participantId"

    def enrol_participants(self, participant_ids: Iterable[str]) -> TxReceipt:
        return self.enrol(participant_ids)

    def words(self, rows: Sequence[ForecastRow]) -> tuple[int, bytes, list[int]]:
        """``(interval_start_s, model version bytes32, sorted words)`` of one batch."""
        if not rows:
            raise OracleError("a forecast batch needs at least one row")
        interval = check_interval_start(rows[0].interval_start_s)
        model = rows[0].model_version
        words = []
        for r in rows:
            if r.interval_start_s != interval or r.model_version != model:
                raise OracleError("one forecast batch is one interval and one model version")
            index = self.index_of(r.participant_id)
            if index is None:
                raise UnknownMeterError(r.participant_id)
            words.append(pack_forecast(index, r.q10_wh, r.q50_wh, r.q90_wh))
        return interval, text_to_bytes32(model, "model version"), sorted(words)

    def sign(
        self, oracle: LocalAccount, rows: Sequence[ForecastRow], nonce: int, revision: bool = False
    ) -> SignedBatch:
        interval, model, words = self.words(rows)
        kind: BatchKind = "ForecastRevision" if revision else "ForecastBatch"
        return sign_batch(oracle, kind, self.chain_id, self.address, interval, words, nonce, model)

    def submit(self, batch: SignedBatch, gas: int | None = None) -> TxReceipt:
        fn = "reviseForecasts" if batch.kind == "ForecastRevision" else "commitForecasts"
        return self._transact(
            fn,
            batch.interval_start_s,
            batch.model_version,
            list(batch.words),
            batch.nonce,
            batch.signature,
            gas=gas,
        )

    def commit(
        self, oracle: LocalAccount, rows: Sequence[ForecastRow], nonce: int, revision: bool = False
    ) -> TxReceipt:
        return self.submit(self.sign(oracle, rows, nonce, revision))

    def is_committed(self, participant_id: str, interval_start_s: int) -> bool:
        return bool(
            self._call(
                "isCommitted", text_to_bytes32(participant_id, "participant id"), interval_start_s
            )
        )

    def forecasts_in(self, receipt: TxReceipt) -> list[ForecastRow]:
        """The rows a commit or revision receipt carried."""
        out: list[ForecastRow] = []
        for name in ("ForecastsCommitted", "ForecastsRevised"):
            for ev in self.events(receipt, name):
                interval = int(ev["args"]["intervalStart"])
                model = bytes32_to_text(ev["args"]["modelVersion"])
                for word in ev["args"]["forecasts"]:
                    index, q10, q50, q90 = unpack_forecast(int(word))
                    out.append(ForecastRow(self.id_at(index), interval, q10, q50, q90, model))
        return out
