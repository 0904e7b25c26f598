"""The chain indexer: contract logs in, one :class:`ChainEvent` per log out, reorgs detected.

The indexer reads the logs of the deployed contracts with ``eth_getLogs`` in chunks of blocks
up to ``head - confirmations``, decodes each log with the ABIs of *every* compiled artifact (by
its first topic, so a newly added contract's events are picked up without code changes) and
hands each chunk to an :class:`IndexerSink` together with the hash of the chunk's last block.

Reorgs. The sink remembers the hashes of recent blocks (the last block of every chunk and
every block holding a log). Before reading a chunk the indexer checks that the first block's
``parentHash`` equals the stored hash of the checkpoint block; a mismatch is a reorg. It then
walks the stored hashes from the newest down, comparing each with the chain's block of the same
number, until one matches: the common ancestor. The sink rolls its read models back to it and
indexing resumes from the next block, so the new branch is applied. Within a chunk, the last
block's hash is read before and after ``eth_getLogs``; if it changed, the chunk is read again
(a block hash commits to all its ancestors, so an unchanged hash means the logs are from one
branch).

Resuming. The sink owns the checkpoint (last indexed block, its hash, last log index); the
indexer reads it before every chunk, so a crashed process resumes where the sink committed.

Values are made JSON-safe (see :func:`json_safe`): ints as ints, or as decimal strings when
their magnitude exceeds 2**53; bytes as ``0x``-hex; addresses checksummed; tuples as lists (or
objects when the ABI names their components).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from chain.compiler import Artifact
from chain.deploy import Deployment
from core.errors import ChainError

log = logging.getLogger(__name__)

MAX_SAFE_INT = 2**53
"""Larger integers are carried as decimal strings (JSON readers lose precision above it)."""

DEFAULT_CHUNK_BLOCKS = 2000


class IndexerError(ChainError):
    """The indexer cannot go on (a log it cannot decode, a reorg deeper than it remembers)."""


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class BlockRef:
    """A block by number and hash (``0x``-hex)."""

    number: int
    hash: str


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract log.

    ``args`` holds the event's arguments by name, JSON-safe (see :func:`json_safe`).
    """

    chain_id: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    address: str
    contract: str
    event: str
    args: dict[str, Any]

    @property
    def position(self) -> tuple[int, int]:
        """Where the log is on its chain: ``(block_number, log_index)``."""
        return (self.block_number, self.log_index)

    @property
    def aggregate_key(self) -> str:
        """A bus key that keeps one aggregate's events in order: the contract and the first
        address (or id) argument, e.g. ``FlexToken:0xabc...``."""
        for value in self.args.values():
            if isinstance(value, (str, int)):  # a tuple: faster than a union
                return f"{self.contract}:{value}"
        return f"{self.contract}:{self.address}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "address": self.address,
            "contract": self.contract,
            "event": self.event,
            "args": self.args,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainEvent:
        try:
            chain_id = data["chain_id"]
            block_number = data["block_number"]
            block_hash = data["block_hash"]
            tx_hash = data["tx_hash"]
            log_index = data["log_index"]
            address = data["address"]
            contract = data["contract"]
            event = data["event"]
            args = data["args"]
            if (  # a record as to_dict wrote it (the usual case): no conversions
                type(chain_id) is int
                and type(block_number) is int
                and type(log_index) is int
                and type(block_hash) is str
                and type(tx_hash) is str
                and type(address) is str
                and type(contract) is str
                and type(event) is str
                and type(args) is dict
            ):
                # args is shared, not copied: records and events are never modified (to_dict
                # shares it too), and a copy per event costs the embedded bus a tenth of its time
                return cls(
                    chain_id,
                    block_number,
                    block_hash,
                    tx_hash,
                    log_index,
                    address,
                    contract,
                    event,
                    args,
                )
            return cls(
                chain_id=int(chain_id),
                block_number=int(block_number),
                block_hash=str(block_hash),
                tx_hash=str(tx_hash),
                log_index=int(log_index),
                address=str(address),
                contract=str(contract),
                event=str(event),
                args=dict(args),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexerError(f"malformed chain event record: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Decoding


@lru_cache(maxsize=65536)
def _checksum(address: str) -> str:
    """EIP-55 checksum of a ``0x`` address (validated; cached)."""
    body = address[2:].lower()
    if len(body) != 40 or not address.startswith(("0x", "0X")):
        return str(to_checksum_address(address))  # raises its own clear error
    digest = keccak(text=body).hex()
    try:
        int(body, 16)
    except ValueError:
        return str(to_checksum_address(address))
    return "0x" + "".join(
        c.upper() if c > "9" and int(d, 16) >= 8 else c for c, d in zip(body, digest, strict=False)
    )


def json_safe(abi_type: dict[str, Any], value: Any) -> Any:
    """``value`` decoded by eth_abi for ABI parameter ``abi_type``, as a JSON-safe value."""
    typ: str = abi_type["type"]
    if typ.endswith("]"):
        inner = dict(abi_type)
        inner["type"] = typ[: typ.rindex("[")]
        return [json_safe(inner, v) for v in value]
    if typ == "tuple":
        comps = abi_type.get("components", [])
        if comps and all(c.get("name") for c in comps):
            return {c["name"]: json_safe(c, v) for c, v in zip(comps, value, strict=True)}
        return [json_safe(c, v) for c, v in zip(comps, value, strict=True)]
    if typ == "address":
        return _checksum(value)
    if typ == "bool":
        return bool(value)
    if typ.startswith(("uint", "int")):
        n = int(value)
        return n if -MAX_SAFE_INT <= n <= MAX_SAFE_INT else str(n)
    if typ == "string":
        return str(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


def _canonical_type(param: dict[str, Any]) -> str:
    typ: str = param["type"]
    if typ.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


_DYNAMIC = ("string", "bytes")


def _is_hashed_when_indexed(param: dict[str, Any]) -> bool:
    typ: str = param["type"]
    return typ in _DYNAMIC or typ.endswith("]") or typ.startswith("tuple")


WordDecoder = Callable[[str], Any]


@lru_cache(maxsize=65536)
def _address_word(word: str) -> str:
    """The checksummed address in a 32-byte word (64 hex digits); the padding must be zero."""
    if word[:24].strip("0"):
        raise ValueError(f"address word with non-zero padding: {word}")
    return _checksum("0x" + word[24:])


def _word_decoder(param: dict[str, Any]) -> WordDecoder | None:
    """A decoder of one 32-byte ABI word (64 hex digits) into a JSON-safe value, for the static
    one-word types (address, bool, intN, uintN, bytesN); None for the others (eth_abi then).
    As strict as eth_abi: padding must be zero and values in range."""
    typ: str = param["type"]
    if typ == "address":
        return _address_word
    if typ == "bool":

        def boolean(word: str) -> bool:
            n = int(word, 16)
            if n > 1:
                raise ValueError(f"bool word out of range: {word}")
            return n == 1

        return boolean
    if typ.startswith("uint") and typ[4:].isdigit():
        limit = 2 ** int(typ[4:])

        def uint(word: str) -> int | str:
            n = int(word, 16)
            if n >= limit:
                raise ValueError(f"{typ} out of range: {n}")
            return n if n <= MAX_SAFE_INT else str(n)

        return uint
    if typ.startswith("int") and typ[3:].isdigit():
        bound = 2 ** (int(typ[3:]) - 1)

        def sint(word: str) -> int | str:
            n = int(word, 16)
            if n >= 2**255:
                n -= 2**256
            if not -bound <= n < bound:
                raise ValueError(f"{typ} out of range: {n}")
            return n if -MAX_SAFE_INT <= n <= MAX_SAFE_INT else str(n)

        return sint
    if typ.startswith("bytes") and typ[5:].isdigit():
        width = 2 * int(typ[5:])

        def fixed_bytes(word: str) -> str:
            if word[width:].strip("0"):
                raise ValueError(f"{typ} word with non-zero padding: {word}")
            return "0x" + word[:width].lower()

        return fixed_bytes
    return None


@dataclass(frozen=True)
class _EventAbi:
    owner: str  # the artifact that declares it
    name: str
    inputs: tuple[dict[str, Any], ...]
    indexed: tuple[dict[str, Any], ...]
    data: tuple[dict[str, Any], ...]
    data_types: tuple[str, ...]
    topic_decoders: tuple[WordDecoder | None, ...]
    data_decoders: tuple[WordDecoder, ...] | None  # None: some data type needs eth_abi

    @classmethod
    def from_abi(cls, owner: str, item: dict[str, Any]) -> _EventAbi:
        inputs = tuple(item.get("inputs", []))
        indexed = tuple(p for p in inputs if p.get("indexed"))
        data = tuple(p for p in inputs if not p.get("indexed"))
        topic_decoders = tuple(
            None if _is_hashed_when_indexed(p) else _word_decoder(p) for p in indexed
        )
        words = [_word_decoder(p) for p in data]
        data_decoders = None if any(w is None for w in words) else tuple(w for w in words if w)
        return cls(
            owner,
            item["name"],
            inputs,
            indexed,
            data,
            tuple(_canonical_type(p) for p in data),
            topic_decoders,
            data_decoders,
        )

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(_canonical_type(p) for p in self.inputs)})"

    def decode(self, topics: Sequence[str], data: str) -> dict[str, Any]:
        if len(topics) - 1 != len(self.indexed):
            raise ValueError(f"{len(topics) - 1} indexed topics, the ABI has {len(self.indexed)}")
        values: dict[str, Any] = {}
        for param, topic, fast in zip(self.indexed, topics[1:], self.topic_decoders, strict=True):
            if len(topic) != 66:
                raise ValueError(f"topic {topic!r} is not 32 bytes")
            if fast is not None:
                values[param["name"]] = fast(topic[2:])
            elif _is_hashed_when_indexed(param):
                values[param["name"]] = topic.lower()  # only the hash is in the topic
            else:
                (decoded,) = abi_decode([_canonical_type(param)], bytes.fromhex(topic[2:]))
                values[param["name"]] = json_safe(param, decoded)
        if self.data:
            if self.data_decoders is not None:
                body = data[2:]
                if len(body) < 64 * len(self.data_decoders):
                    raise ValueError(f"{len(body) // 2} bytes of data, need {32 * len(self.data)}")
                for i, (param, fast) in enumerate(zip(self.data, self.data_decoders, strict=True)):
                    values[param["name"]] = fast(body[64 * i : 64 * i + 64])
            else:
                decoded_data = abi_decode(list(self.data_types), bytes.fromhex(data[2:]))
                for param, value in zip(self.data, decoded_data, strict=True):
                    values[param["name"]] = json_safe(param, value)
        if len(values) == len(self.inputs):
            return {p["name"]: values[p["name"]] for p in self.inputs}  # declaration order
        return values


class EventDecoder:
    """Decodes raw logs with the events of every artifact, found by their first topic.

    Several artifacts may declare the same event (an interface and its implementation, ERC-20's
    ``Transfer`` in every token): the artifact of the contract at the log's address is preferred,
    then any whose indexed-argument count fits the log.
    """

    def __init__(self, artifacts: Mapping[str, Artifact], names_by_address: Mapping[str, str]):
        self.names_by_address = {a.lower(): n for a, n in names_by_address.items()}
        self._by_topic: dict[str, list[_EventAbi]] = {}
        for name in sorted(artifacts):
            for item in artifacts[name].abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                ev = _EventAbi.from_abi(name, item)
                topic = "0x" + keccak(text=ev.signature).hex()
                self._by_topic.setdefault(topic, []).append(ev)
        self._cache: dict[tuple[str, str, int], _EventAbi] = {}

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    def _pick(self, address: str, topic0: str, n_topics: int) -> _EventAbi | None:
        key = (address, topic0, n_topics)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        candidates = self._by_topic.get(topic0, [])
        owner = self.names_by_address.get(address)
        fitting = [c for c in candidates if len(c.indexed) == n_topics - 1]
        chosen = next((c for c in fitting if c.owner == owner), fitting[0] if fitting else None)
        if chosen is not None:
            self._cache[key] = chosen
        return chosen

    def decode(self, chain_id: int, raw: Mapping[str, Any]) -> ChainEvent | None:
        """The event of one ``eth_getLogs`` entry (hex strings), or None for an unknown topic."""
        topics: list[str] = list(raw["topics"])
        if not topics:
            return None  # anonymous events carry no signature topic
        address = str(raw["address"]).lower()
        ev = self._pick(address, topics[0].lower(), len(topics))
        if ev is None:
            return None
        try:
            args = ev.decode(topics, raw["data"])
        except Exception as exc:  # eth_abi raises several unrelated types
            raise IndexerError(
                f"cannot decode {ev.owner}.{ev.name} at block {int(raw['blockNumber'], 16)} "
                f"log {int(raw['logIndex'], 16)}: {exc}"
            ) from exc
        return ChainEvent(
            chain_id=chain_id,
            block_number=int(raw["blockNumber"], 16),
            block_hash=str(raw["blockHash"]),
            tx_hash=str(raw["transactionHash"]),
            log_index=int(raw["logIndex"], 16),
            address=_checksum(address),
            contract=self.names_by_address.get(address, ev.owner),
            event=ev.name,
            args=args,
        )


# --------------------------------------------------------------------------------------------
# The JSON-RPC side


RpcCall = Callable[[str, list[Any]], Any]


def web3_rpc(w3: Any) -> RpcCall:
    """An :data:`RpcCall` on a web3 connection that returns raw JSON results (no formatting)."""

    def call(method: str, params: list[Any]) -> Any:
        try:
            resp = w3.provider.make_request(method, params)
        except Exception as exc:
            raise ChainError(f"{method} failed: {exc}") from exc
        if "error" in resp:
            raise ChainError(f"{method} failed: {resp['error']}")
        return resp.get("result")

    return call


def fetch_logs(
    rpc: RpcCall, addresses: Sequence[str], from_block: int, to_block: int
) -> list[dict[str, Any]]:
    """Raw logs of ``addresses`` in blocks ``from_block..to_block``, in chain order."""
    if from_block > to_block or not addresses:
        return []
    result = rpc(
        "eth_getLogs",
        [{"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}],
    )
    if not isinstance(result, list):
        raise IndexerError(f"eth_getLogs returned {type(result).__name__}, not a list")
    return result


# --------------------------------------------------------------------------------------------
# The sink (read models) and the indexer


class IndexerSink(Protocol):
    """Where indexed chunks go; it owns the checkpoint and the remembered block hashes."""

    def checkpoint(self, chain_id: int) -> BlockRef | None:
        """The last block fully applied, or None before the first chunk."""
        ...

    def recent_blocks(self, chain_id: int) -> list[BlockRef]:
        """Remembered blocks (at least the checkpoint block), newest first."""
        ...

    def apply_chunk(
        self, chain_id: int, events: Sequence[ChainEvent], tip: BlockRef, blocks: Sequence[BlockRef]
    ) -> None:
        """Apply ``events`` and move the checkpoint to ``tip``, atomically; remember ``blocks``
        (the tip and every block holding one of the events)."""
        ...

    def rollback(self, chain_id: int, ancestor: BlockRef | None) -> None:
        """Undo everything applied above ``ancestor`` (None: everything) and move the
        checkpoint back to it."""
        ...


@dataclass
class IndexerStats:
    chunks: int = 0
    events: int = 0
    reorgs: int = 0
    reorg_depths: list[int] = field(default_factory=list)
    retries: int = 0


class Indexer:
    """Follows the chain for one deployment and feeds an :class:`IndexerSink`.

    Parameters
    ----------
    rpc:
        JSON-RPC call (see :func:`web3_rpc`).
    chain_id:
        The chain's id (checked against the node at start).
    addresses:
        Contract name by address: the contracts whose logs are read.
    artifacts:
        Every compiled artifact; their ABIs decode the logs.
    sink:
        Receives the chunks and owns the checkpoint.
    start_block:
        First block to read when the sink has no checkpoint.
    confirmations:
        Blocks below the head that are not read yet (0 on a dev chain).
    chunk_blocks:
        Most blocks per ``eth_getLogs`` call (halved when the node refuses a range).
    """

    def __init__(
        self,
        rpc: RpcCall,
        chain_id: int,
        addresses: Mapping[str, str],
        artifacts: Mapping[str, Artifact],
        sink: IndexerSink,
        start_block: int = 0,
        confirmations: int = 0,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
    ) -> None:
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        if chunk_blocks < 1:
            raise ValueError(f"chunk_blocks must be >= 1, got {chunk_blocks}")
        self.rpc = rpc
        self.chain_id = chain_id
        self.addresses = [_checksum(a) for a in addresses]
        self.decoder = EventDecoder(artifacts, addresses)
        self.sink = sink
        self.start_block = start_block
        self.confirmations = confirmations
        self.chunk_blocks = chunk_blocks
        self.stats = IndexerStats()
        node_chain = int(self.rpc("eth_chainId", []), 16)
        if node_chain != chain_id:
            raise IndexerError(f"indexer configured for chain {chain_id}, the node is {node_chain}")

    @classmethod
    def for_deployment(
        cls,
        rpc: RpcCall,
        deployment: Deployment,
        artifacts: Mapping[str, Artifact],
        sink: IndexerSink,
        **kwargs: Any,
    ) -> Indexer:
        addresses = {c.address: name for name, c in deployment.contracts.items()}
        kwargs.setdefault("start_block", deployment.start_block)
        return cls(rpc, deployment.chain_id, addresses, artifacts, sink, **kwargs)

    # -- chain reads --

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber", []), 16)

    def block(self, number: int) -> dict[str, Any] | None:
        result = self.rpc("eth_getBlockByNumber", [hex(number), False])
        return result if isinstance(result, dict) else None

    def block_hash(self, number: int) -> str | None:
        b = self.block(number)
        return None if b is None else str(b["hash"])

    # -- the loop --

    def find_ancestor(self) -> BlockRef | None:
        """The newest remembered block still on the chain (None: none is)."""
        for ref in self.sink.recent_blocks(self.chain_id):
            if self.block_hash(ref.number) == ref.hash:
                return ref
        return None

    def _handle_reorg(self, checkpoint: BlockRef) -> None:
        ancestor = self.find_ancestor()
        if ancestor is None:
            # No remembered block survives: roll everything back and index from the start
            # (correct for any depth, only slower).
            log.warning(
                "reorg on chain %s below every remembered block: re-indexing from %s",
                self.chain_id,
                self.start_block,
            )
        depth = checkpoint.number - (ancestor.number if ancestor else self.start_block - 1)
        log.warning(
            "reorg on chain %s: checkpoint %s, common ancestor %s (depth %s)",
            self.chain_id,
            checkpoint.number,
            ancestor.number if ancestor else None,
            depth,
        )
        self.sink.rollback(self.chain_id, ancestor)
        self.stats.reorgs += 1
        self.stats.reorg_depths.append(depth)

    def poll_once(self, max_chunks: int | None = None) -> int:
        """Index what is new up to ``head - confirmations``; returns the events applied."""
        applied = 0
        chunks = 0
        while max_chunks is None or chunks < max_chunks:
            checkpoint = self.sink.checkpoint(self.chain_id)
            target = self.head() - self.confirmations
            start = checkpoint.number + 1 if checkpoint else self.start_block
            if checkpoint is not None and checkpoint.number > target:
                # The chain got shorter than what we indexed: a reorg to a shorter branch, or a
                # revert. The checkpoint block may be gone altogether.
                if self.block_hash(checkpoint.number) != checkpoint.hash:
                    self._handle_reorg(checkpoint)
                    continue
                return applied
            if start > target:
                # Nothing new; still notice a same-height reorg of the checkpoint block.
                if checkpoint is not None and self.block_hash(checkpoint.number) != checkpoint.hash:
                    self._handle_reorg(checkpoint)
                    continue
                return applied
            end = min(target, start + self.chunk_blocks - 1)
            n = self._index_chunk(checkpoint, start, end)
            if n is None:
                continue  # reorg handled or chunk re-read: look again
            applied += n
            chunks += 1
        return applied

    def _index_chunk(self, checkpoint: BlockRef | None, start: int, end: int) -> int | None:
        end_block = self.block(end)
        first = end_block if start == end else self.block(start)
        if end_block is None or first is None:
            return None  # the chain moved under us (shorter branch): look again
        if checkpoint is not None and first["parentHash"] != checkpoint.hash:
            self._handle_reorg(checkpoint)
            return None
        try:
            raw_logs = fetch_logs(self.rpc, self.addresses, start, end)
        except ChainError as exc:
            if end > start:
                self.chunk_blocks = max(1, (end - start + 1) // 2)
                log.info(
                    "eth_getLogs %s..%s refused (%s); chunk now %s",
                    start,
                    end,
                    exc,
                    self.chunk_blocks,
                )
                self.stats.retries += 1
                return None
            raise
        if self.block_hash(end) != end_block["hash"]:
            self.stats.retries += 1
            return None  # a reorg while reading: read the chunk again
        events: list[ChainEvent] = []
        blocks: dict[int, str] = {end: str(end_block["hash"])}
        decode = self.decoder.decode
        for raw in raw_logs:
            if raw.get("removed"):
                continue
            block_hash = raw["blockHash"]
            number = int(raw["blockNumber"], 16)
            known = blocks.setdefault(number, str(block_hash))
            if known != block_hash:
                self.stats.retries += 1
                return None  # logs of two branches: read again
            ev = decode(self.chain_id, raw)
            if ev is not None:
                events.append(ev)
        del raw_logs  # the raw records are not needed while the sink works
        if start != end:
            blocks.setdefault(start, str(first["hash"]))
        tip = BlockRef(end, str(end_block["hash"]))
        refs = [BlockRef(n, h) for n, h in sorted(blocks.items())]
        self.sink.apply_chunk(self.chain_id, events, tip, refs)
        after = self.sink.checkpoint(self.chain_id)
        if after is None or after.number < end:
            raise IndexerError(
                f"the sink did not apply blocks {start}..{end} (checkpoint {after}); "
                "see the projector's log"
            )
        self.stats.chunks += 1
        self.stats.events += len(events)
        return len(events)

    def run(self, stop: threading.Event, poll_interval_s: float = 0.5) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.poll_once()
            except IndexerError:
                raise
            except ChainError as exc:  # the node went away for a moment: try again
                log.warning("indexer: %s", exc)
            stop.wait(poll_interval_s)


def decode_logs(
    decoder: EventDecoder, chain_id: int, raw_logs: Iterable[Mapping[str, Any]]
) -> list[ChainEvent]:
    """Decode raw logs, skipping unknown topics (for tools and the benchmark)."""
    out: list[ChainEvent] = []
    for raw in raw_logs:
        ev = decoder.decode(chain_id, raw)
        if ev is not None:
            out.append(ev)
    return out


def wait_for_block(rpc: RpcCall, number: int, timeout_s: float = 30.0) -> None:
    """Block until the chain's head reaches ``number``."""
    deadline = time.monotonic() + timeout_s
    while int(rpc("eth_blockNumber", []), 16) < number:
        if time.monotonic() > deadline:
            raise IndexerError(f"the chain did not reach block {number} in {timeout_s} s")
        time.sleep(0.05)
