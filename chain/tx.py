"""Nonce-safe transaction sending with receipts and decoded revert errors.

One :class:`NonceManager` per (chain, account) and process hands out nonces under a lock, so
concurrent senders never reuse one; after a failed send it re-reads the chain's pending nonce.
A transaction is estimated first (a revert there is decoded into its custom error before
anything is signed); a receipt with status 0 is replayed as a call to recover the error.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    Web3Exception,
    Web3RPCError,
)
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chain.errors import ErrorDecoder, RevertError, TransactionFailed

GAS_MARGIN = 1.2


class NonceManager:
    """Hands out consecutive nonces for one account."""

    _instances: ClassVar[dict[tuple[int, str], NonceManager]] = {}
    _instances_lock = threading.Lock()

    def __init__(self, w3: Web3, address: str) -> None:
        self._w3 = w3
        self._address = address
        self._lock = threading.Lock()
        self._next: int | None = None

    @classmethod
    def for_account(cls, w3: Web3, address: str) -> NonceManager:
        key = (int(w3.eth.chain_id), address.lower())
        with cls._instances_lock:
            mgr = cls._instances.get(key)
            if mgr is None or mgr._w3.provider is not w3.provider:
                mgr = cls._instances[key] = NonceManager(w3, address)
            return mgr

    def take(self) -> int:
        with self._lock:
            chain_next = int(
                self._w3.eth.get_transaction_count(to_checksum_address(self._address), "pending")
            )
            if self._next is None or chain_next > self._next:
                self._next = chain_next
            nonce = self._next
            self._next += 1
            return nonce

    @classmethod
    def reset_all(cls) -> None:
        """Forget every local counter (after the chain was reverted, e.g. ``evm_revert``)."""
        with cls._instances_lock:
            for mgr in cls._instances.values():
                mgr.reset()

    def reset(self) -> None:
        """Forget the local counter; the next ``take`` reads the chain's pending nonce."""
        with self._lock:
            self._next = None


class TxSender:
    """Signs and sends transactions for one account and waits for their receipts."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: ErrorDecoder,
        timeout_s: float = 60.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.timeout_s = timeout_s
        self.nonces = NonceManager.for_account(w3, account.address)
        self._chain_id = int(w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("pending")
        base = int(block.get("baseFeePerGas") or 0)
        tip = 10**9 if base else 0
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def build(
        self, fn: ContractFunction | ContractConstructor, gas: int | None = None, value: int = 0
    ) -> TxParams:
        """The unsigned transaction for ``fn``; a revert in estimation raises its typed error."""
        params: TxParams = {"from": self.account.address, "value": value}  # type: ignore[typeddict-item]
        if gas is None:
            try:
                gas = int(fn.estimate_gas(params) * GAS_MARGIN)
            except ContractLogicError as exc:
                raise self._decode(exc) from exc
            except Web3RPCError as exc:
                name = getattr(fn, "fn_name", "constructor")
                raise TransactionFailed(f"estimating {name} failed: {exc}") from exc
        fees = self._fees()
        full: TxParams = {
            **params,
            "gas": gas,
            "chainId": self._chain_id,
            "nonce": Nonce(0),
            "maxFeePerGas": Wei(fees["maxFeePerGas"]),
            "maxPriorityFeePerGas": Wei(fees["maxPriorityFeePerGas"]),
        }
        tx = fn.build_transaction(full)
        return tx

    def send(self, tx: TxParams) -> bytes:
        """Sign ``tx`` with the next nonce and send it; returns the transaction hash."""
        tx = dict(tx)  # type: ignore[assignment]
        tx["nonce"] = Nonce(self.nonces.take())
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        try:
            return bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except (Web3RPCError, ValueError) as exc:
            self.nonces.reset()
            raise TransactionFailed(f"sending a transaction failed: {exc}") from exc

    def wait(self, tx_hash: bytes, tx: TxParams | None = None) -> TxReceipt:
        """Wait for the receipt; a failed transaction raises its decoded revert error."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=self.timeout_s, poll_latency=0.02
            )
        except TimeExhausted as exc:
            raise TransactionFailed(
                f"no receipt for 0x{tx_hash.hex()} after {self.timeout_s} s"
            ) from exc
        if receipt["status"] != 1:
            raise self._replay_failure(tx_hash, receipt)
        return receipt

    def transact(
        self, fn: ContractFunction | ContractConstructor, gas: int | None = None, value: int = 0
    ) -> TxReceipt:
        """Build, send and wait for one transaction."""
        tx = self.build(fn, gas=gas, value=value)
        return self.wait(self.send(tx), tx)

    def transact_many(
        self, fns: Sequence[ContractFunction], gas: int | None = None
    ) -> list[TxReceipt]:
        """Send several transactions back to back, then wait for all receipts (in order).

        With ``gas`` given, estimation is skipped (needed when later calls depend on the state
        earlier ones create).
        """
        hashes = [self.send(self.build(fn, gas=gas)) for fn in fns]
        return [self.wait(h) for h in hashes]

    def _decode(self, exc: Exception) -> RevertError:
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        return self.decoder.decode(data if isinstance(data, str | bytes) else None)

    def _replay_failure(self, tx_hash: bytes, receipt: TxReceipt) -> Exception:
        tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        call: dict[str, Any] = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(call, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return self._decode(exc)
        except Web3Exception as exc:
            return TransactionFailed(f"transaction 0x{tx_hash.hex()} failed: {exc}")
        if receipt["gasUsed"] >= tx["gas"]:
            return TransactionFailed(
                f"transaction 0x{tx_hash.hex()} ran out of gas ({tx['gas']} given)"
            )
        return TransactionFailed(f"transaction 0x{tx_hash.hex()} reverted without reason")
