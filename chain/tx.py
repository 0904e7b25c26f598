"""Nonce-safe transaction sending with receipts, decoded revert errors, and recovery from
dropped transactions.

One :class:`NonceManager` per (chain, account) and process hands out nonces under a lock, so
concurrent senders never reuse one; after a failed send it re-reads the chain's pending nonce.
A transaction is estimated first (a revert there is decoded into its custom error before
anything is signed); a receipt with status 0 is replayed as a call to recover the error.

Dropped transactions (a reorg replaced the block that held one, or the node forgot it):

* A dropped transaction frees its nonce. When the chain's pending nonce is below the next one
  the manager would hand out and the node no longer knows the transaction sent with it, the
  manager hands out the freed nonce again: the next transaction fills it instead of queueing
  behind a gap, where it would wait for a receipt that never comes.
* :meth:`TxSender.wait` looks every ``drop_check_s`` whether the node still knows the
  transaction it waits for. If not, it sends the same call again (with a freed nonce) after
  checking it against the chain's current state: a call that would now revert, e.g. a step
  that was done meanwhile, raises its typed error instead, so the caller's "already done"
  handling applies. A transaction queued behind a gap gets the gap filled (an empty transfer
  to itself) and goes through.
* A transaction whose receipt the caller already has can leave the chain later. Nothing is
  sent again behind the caller's back: a :class:`ChainWatch` tells the service (it follows
  the blocks of its sender's receipts and the heads it marked), which decides again from the
  chain.
* Waits end promptly once a stop event is set (``TxSender(stop=...)``, or :func:`stoppable`
  around a service's loop): :class:`TransactionInterrupted`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chain.errors import ErrorDecoder, RevertError, TransactionFailed

log = logging.getLogger(__name__)

GAS_MARGIN = 1.2
REORG_DEPTH_BLOCKS = 16
"""A block this deep below the head is taken as final: no reorg is looked for below it."""
DROP_CHECK_S = 1.0
"""While waiting for a receipt, how often to ask whether the node still knows the transaction."""
MAX_RESENDS = 3
"""Times one wait sends a dropped call again before it gives up (TransactionDropped)."""
POLL_S = (0.02, 0.1)
"""Receipt polling interval, seconds: during the first second, then (also how soon a stop is
seen)."""
_KEEP_SENT = 256  # nonces (and unsigned transactions) remembered per account / sender


class TransactionDropped(TransactionFailed):
    """The node no longer knows a transaction, and it was not sent again."""


class TransactionInterrupted(TransactionFailed):
    """A stop event was set while waiting for a receipt (the transaction may still be mined)."""


_stop_events = threading.local()


@contextmanager
def stoppable(*events: threading.Event) -> Iterator[None]:
    """Within this block, every :class:`TxSender` wait in this thread raises
    :class:`TransactionInterrupted` as soon as one of ``events`` is set."""
    before: tuple[threading.Event, ...] = getattr(_stop_events, "events", ())
    _stop_events.events = before + events
    try:
        yield
    finally:
        _stop_events.events = before


def _stopping(own: threading.Event | None) -> bool:
    events: tuple[threading.Event, ...] = getattr(_stop_events, "events", ())
    return (own is not None and own.is_set()) or any(e.is_set() for e in events)


def _known(w3: Web3, tx_hash: bytes) -> bool:
    """Whether the node knows the transaction (in its pool or mined)."""
    try:
        w3.eth.get_transaction(HexBytes(tx_hash))
    except TransactionNotFound:
        return False
    return True


class NonceManager:
    """Hands out consecutive nonces for one account; hands out a nonce again once the
    transaction sent with it left the chain (module docstring)."""

    _instances: ClassVar[dict[tuple[int, str], NonceManager]] = {}
    _instances_lock = threading.Lock()

    def __init__(self, w3: Web3, address: str) -> None:
        self._w3 = w3
        self._address = address
        self._lock = threading.Lock()
        self._next: int | None = None
        self._sent: dict[int, bytes] = {}  # nonce -> hash of the last transaction sent with it
        self._unsent: set[int] = set()  # handed out, not sent yet
        self.freed = 0  # times a dropped transaction's nonce was handed out again

    @classmethod
    def for_account(cls, w3: Web3, address: str) -> NonceManager:
        key = (int(w3.eth.chain_id), address.lower())
        with cls._instances_lock:
            mgr = cls._instances.get(key)
            if mgr is None or mgr._w3.provider is not w3.provider:
                mgr = cls._instances[key] = NonceManager(w3, address)
            return mgr

    def _pending(self) -> int:
        return int(
            self._w3.eth.get_transaction_count(to_checksum_address(self._address), "pending")
        )

    def _freed(self, nonce: int) -> bool:
        """Whether ``nonce``, below our counter, is free again: no thread of this process is
        about to send it and the node does not know the transaction we sent with it."""
        if nonce in self._unsent:
            return False
        sent = self._sent.get(nonce)
        return sent is None or not _known(self._w3, sent)

    def take(self) -> int:
        with self._lock:
            chain_next = self._pending()
            if self._next is not None and chain_next < self._next and self._freed(chain_next):
                log.warning(
                    "%s: the transaction with nonce %d left the chain; its nonce is used again",
                    self._address, chain_next,
                )
                self._next = chain_next
                self.freed += 1
            if self._next is None or chain_next > self._next:
                self._next = chain_next
            nonce = self._next
            self._next += 1
            self._unsent.add(nonce)
            return nonce

    def take_gap(self) -> int | None:
        """A freed nonce that later transactions queue behind (module docstring), handed out
        to fill the gap; None when there is no gap."""
        with self._lock:
            chain_next = self._pending()
            if self._next is None or chain_next >= self._next or not self._freed(chain_next):
                return None
            self._unsent.add(chain_next)
            self.freed += 1
            return chain_next

    def sent(self, nonce: int, tx_hash: bytes) -> None:
        """``nonce`` was sent as ``tx_hash``."""
        with self._lock:
            self._unsent.discard(nonce)
            self._sent[nonce] = tx_hash
            if len(self._sent) > 2 * _KEEP_SENT:
                for old in [n for n in self._sent if n < nonce - _KEEP_SENT]:
                    del self._sent[old]

    def unsent(self, nonce: int) -> None:
        """Sending ``nonce`` failed: the next ``take`` reads the chain's pending nonce."""
        with self._lock:
            self._unsent.discard(nonce)
            self._next = None

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


class ChainWatch:
    """Whether blocks a service relied on are still on the chain.

    A service that keeps something it learnt from the chain (a cache, a memo of a step it
    took) follows its sender (:meth:`follow`: the block of every receipt is remembered) and
    marks the head once it learnt it (:meth:`mark`). :meth:`reorged` is True when one of the
    remembered blocks, up to ``depth`` blocks below the head, is no longer on the chain: a
    reorg (or a reset chain) may have undone what the service kept, so it decides again from
    the chain. Each call checks the blocks remembered since the last one, and the highest
    block that call found on the chain (its ancestors are on the chain with it).
    """

    def __init__(self, w3: Web3, depth: int = REORG_DEPTH_BLOCKS) -> None:
        self.w3 = w3
        self.depth = depth
        self._lock = threading.Lock()
        self._blocks: dict[int, set[bytes]] = {}

    def follow(self, sender: TxSender | None) -> ChainWatch:
        """Remember the block of every receipt ``sender`` returns from now on."""
        if sender is not None and self not in sender.watchers:
            sender.watchers.append(self)
        return self

    def saw(self, number: int, block_hash: bytes) -> None:
        """Remember that block ``number`` had ``block_hash``."""
        number = int(number)
        with self._lock:
            self._blocks.setdefault(number, set()).add(bytes(block_hash))
            if len(self._blocks) > 4 * self.depth:
                for old in [n for n in self._blocks if n <= number - self.depth]:
                    del self._blocks[old]

    def mark(self) -> None:
        """Remember the head: what the service read so far relied on it."""
        block = self.w3.eth.get_block("latest")
        self.saw(int(block["number"]), bytes(block["hash"]))

    def reorged(self) -> bool:
        """True once a remembered block left the chain (it is then forgotten)."""
        with self._lock:
            seen = {n: set(h) for n, h in self._blocks.items()}
        if not seen:
            return False
        head = int(self.w3.eth.block_number)
        gone = False
        for number in sorted(seen, reverse=True):
            if number <= head - self.depth:
                break  # final, and so is everything below it
            if number > head or len(seen[number]) > 1:
                gone = True
                break
            try:
                on_chain = bytes(self.w3.eth.get_block(number)["hash"])
            except BlockNotFound:
                on_chain = b""
            if on_chain not in seen[number]:
                gone = True
                break
        with self._lock:
            for number, hashes in seen.items():
                left = self._blocks.get(number, set()) - hashes
                if left:
                    self._blocks[number] = left
                else:
                    self._blocks.pop(number, None)
            top = max(seen)
            if not gone and top > head - self.depth:
                self._blocks.setdefault(top, set()).update(seen[top])
        return gone


class TxSender:
    """Signs and sends transactions for one account and waits for their receipts."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: ErrorDecoder,
        timeout_s: float = 60.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.timeout_s = timeout_s
        self.stop = stop
        self.drop_check_s = DROP_CHECK_S
        self.watchers: list[ChainWatch] = []
        self.nonces = NonceManager.for_account(w3, account.address)
        self._chain_id = int(w3.eth.chain_id)
        self._unsigned: OrderedDict[bytes, TxParams] = OrderedDict()  # hash -> as built
        self._unsigned_lock = threading.Lock()

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
        nonce = self.nonces.take()
        tx["nonce"] = Nonce(nonce)
        tx_hash = self._send_raw(tx)
        with self._unsigned_lock:
            self._unsigned[tx_hash] = tx
            while len(self._unsigned) > _KEEP_SENT:
                self._unsigned.popitem(last=False)
        return tx_hash

    def _send_raw(self, tx: TxParams) -> bytes:
        nonce = int(tx["nonce"])
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        try:
            tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except (Web3RPCError, ValueError) as exc:
            self.nonces.unsent(nonce)
            raise TransactionFailed(f"sending a transaction failed: {exc}") from exc
        except BaseException:
            self.nonces.unsent(nonce)
            raise
        self.nonces.sent(nonce, tx_hash)
        return tx_hash

    def wait(self, tx_hash: bytes, tx: TxParams | None = None) -> TxReceipt:
        """Wait for the receipt; a failed transaction raises its decoded revert error.

        A transaction the node no longer knows is sent again (see the module docstring); the
        receipt is then that of the transaction sent last. Raises :class:`TransactionFailed`
        after ``timeout_s`` without a receipt, :class:`TransactionInterrupted` once a stop
        event is set, :class:`TransactionDropped` when a dropped call cannot be sent again.
        """
        current = bytes(tx_hash)
        resends = 0
        now = time.monotonic()
        deadline, check_at, fast_until = now + self.timeout_s, now + self.drop_check_s, now + 1
        while True:
            receipt = self._receipt(current)
            if receipt is not None:
                break
            if _stopping(self.stop):
                raise TransactionInterrupted(
                    f"stopped while waiting for the receipt of 0x{current.hex()}"
                )
            now = time.monotonic()
            if now >= deadline:
                raise TransactionFailed(
                    f"no receipt for 0x{current.hex()} after {self.timeout_s} s"
                )
            if now >= check_at:
                state = self._state(current)
                if state == "dropped":
                    if resends >= MAX_RESENDS:
                        raise TransactionDropped(
                            f"transaction 0x{current.hex()} left the chain {resends + 1} times"
                        )
                    current = self._resend(current, tx)
                    resends += 1
                    now = time.monotonic()
                    deadline, fast_until = now + self.timeout_s, now + 1
                elif state == "queued":
                    self._fill_gap()
                check_at = time.monotonic() + self.drop_check_s
            time.sleep(POLL_S[0] if time.monotonic() < fast_until else POLL_S[1])
        with self._unsigned_lock:
            self._unsigned.pop(current, None)
        for watcher in self.watchers:
            watcher.saw(int(receipt["blockNumber"]), bytes(receipt["blockHash"]))
        if receipt["status"] != 1:
            raise self._replay_failure(current, receipt)
        return receipt

    def _receipt(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _state(self, tx_hash: bytes) -> str:
        """dropped (the node does not know it), queued (behind a nonce gap), or pending."""
        try:
            tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return "dropped" if self._receipt(tx_hash) is None else "mined"
        if tx["blockNumber"] is not None:
            return "mined"
        pending = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        return "queued" if int(tx["nonce"]) > pending else "pending"

    def _resend(self, tx_hash: bytes, tx: TxParams | None) -> bytes:
        """Send the call of dropped ``tx_hash`` again, unless it would now revert (its typed
        error is raised: e.g. the step was done meanwhile)."""
        with self._unsigned_lock:
            unsigned = self._unsigned.pop(tx_hash, None)
        if unsigned is None:
            unsigned = tx
        if unsigned is None:
            raise TransactionDropped(
                f"transaction 0x{tx_hash.hex()} left the chain (sent by another sender)"
            )
        call: dict[str, Any] = {
            "from": self.account.address,
            "data": unsigned.get("data", "0x"),
            "value": unsigned.get("value", 0),
            "gas": unsigned["gas"],
        }
        if unsigned.get("to"):
            call["to"] = unsigned["to"]
        try:
            self.w3.eth.call(call, "latest")  # type: ignore[arg-type]
        except ContractLogicError as exc:
            log.warning("transaction 0x%s left the chain; not sent again: %s", tx_hash.hex(), exc)
            raise self._decode(exc) from exc
        except Web3RPCError as exc:
            raise TransactionFailed(
                f"transaction 0x{tx_hash.hex()} left the chain; checking it again failed: {exc}"
            ) from exc
        again = dict(unsigned)
        if "maxFeePerGas" in again:
            fees = self._fees()
            again["maxFeePerGas"] = Wei(fees["maxFeePerGas"])
            again["maxPriorityFeePerGas"] = Wei(fees["maxPriorityFeePerGas"])
        new_hash = self.send(again)  # type: ignore[arg-type]
        log.warning(
            "transaction 0x%s left the chain (a reorg, or the node dropped it): sent again as 0x%s",
            tx_hash.hex(), new_hash.hex(),
        )
        return new_hash

    def _fill_gap(self) -> None:
        """Fill a freed nonce that our waiting transaction queues behind."""
        nonce = self.nonces.take_gap()
        if nonce is None:
            return
        fees = self._fees()
        filler: TxParams = {
            "from": self.account.address,
            "to": self.account.address,
            "value": Wei(0),
            "gas": 21_000,
            "chainId": self._chain_id,
            "nonce": Nonce(nonce),
            "maxFeePerGas": Wei(fees["maxFeePerGas"]),
            "maxPriorityFeePerGas": Wei(fees["maxPriorityFeePerGas"]),
        }
        tx_hash = self._send_raw(filler)
        log.warning("nonce %d was freed under a waiting transaction: filled by 0x%s",
                    nonce, tx_hash.hex())

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
