"""EIP-712 signatures of oracle batches (eth-account ``encode_typed_data``).

The oracle signs typed data over the batch (interval start, packed values, nonce) with its
registered key; anyone can relay the signed batch. The contract recomputes the digest and
checks that it recovers to an active oracle, and that the nonce was not used before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.signers.local import LocalAccount

from core.codec import eip712_typed_data
from core.oracle_codec import check_interval_start

BatchKind = Literal["MeterBatch", "MeterCorrection", "ForecastBatch", "ForecastRevision"]

DOMAIN_NAMES: dict[str, str] = {
    "MeterBatch": "BRIGHT MeterOracle",
    "MeterCorrection": "BRIGHT MeterOracle",
    "ForecastBatch": "BRIGHT ForecastOracle",
    "ForecastRevision": "BRIGHT ForecastOracle",
}


@dataclass(frozen=True)
class SignedBatch:
    """A batch ready to relay: what was signed, and the 65-byte signature."""

    kind: BatchKind
    interval_start_s: int
    words: tuple[int, ...]
    nonce: int
    signature: bytes
    signer: str
    model_version: bytes | None = None  # forecasts only (bytes32)


def typed_data(
    kind: BatchKind,
    chain_id: int,
    contract: str,
    interval_start_s: int,
    words: Sequence[int],
    nonce: int,
    model_version: bytes | None = None,
) -> dict[str, Any]:
    """The EIP-712 message (``types``, ``domain``, ``primaryType``, ``message``)."""
    fields: list[tuple[str, str]] = [("intervalStart", "uint64")]
    message: dict[str, Any] = {"intervalStart": interval_start_s}
    if kind.startswith("Forecast"):
        fields.append(("modelVersion", "bytes32"))
        message["modelVersion"] = model_version if model_version is not None else b"\0" * 32
        fields.append(("forecasts", "uint256[]"))
        message["forecasts"] = list(words)
    else:
        fields.append(("readings", "uint256[]"))
        message["readings"] = list(words)
    fields.append(("nonce", "uint256"))
    message["nonce"] = nonce
    return eip712_typed_data(DOMAIN_NAMES[kind], chain_id, contract, kind, fields, message)


def batch_digest(
    kind: BatchKind,
    chain_id: int,
    contract: str,
    interval_start_s: int,
    words: Sequence[int],
    nonce: int,
    model_version: bytes | None = None,
) -> bytes:
    """The 32-byte digest that is signed (equals the contract's ``batchDigest``)."""
    signable = encode_typed_data(
        full_message=typed_data(
            kind, chain_id, contract, interval_start_s, words, nonce, model_version
        )
    )
    return bytes(_hash_eip191_message(signable))


def sign_batch(
    account: LocalAccount,
    kind: BatchKind,
    chain_id: int,
    contract: str,
    interval_start_s: int,
    words: Sequence[int],
    nonce: int,
    model_version: bytes | None = None,
) -> SignedBatch:
    """Sign a batch with ``account`` (an oracle key)."""
    check_interval_start(interval_start_s)
    signable = encode_typed_data(
        full_message=typed_data(
            kind, chain_id, contract, interval_start_s, words, nonce, model_version
        )
    )
    signed = Account.sign_message(signable, account.key)
    return SignedBatch(
        kind=kind,
        interval_start_s=interval_start_s,
        words=tuple(words),
        nonce=nonce,
        signature=bytes(signed.signature),
        signer=str(account.address),
        model_version=model_version,
    )
