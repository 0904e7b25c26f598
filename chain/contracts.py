"""Typed Python clients for the deployed contracts (web3.py underneath).

Each client wraps one contract: reads are plain methods returning Python types, writes send a
transaction through a :class:`~chain.tx.TxSender` and return the receipt; a revert raises the
contract's custom error as a typed :class:`~chain.errors.RevertError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import EventData, TxReceipt

from chain.compiler import Artifact
from chain.domain import Participant, Role
from chain.errors import ErrorDecoder
from chain.tx import TxSender
from core.codec import bytes32_to_text, eip712_typed_data, text_to_bytes32
from core.errors import ChainError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class ContractClient:
    """Base of the typed clients: one deployed contract, one sending account (optional)."""

    contract_name: ClassVar[str]

    def __init__(self, w3: Web3, address: str, artifact: Artifact, sender: TxSender | None) -> None:
        if artifact.name != self.contract_name:
            raise ChainError(f"{type(self).__name__} needs the {self.contract_name} artifact")
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.artifact = artifact
        self.sender = sender
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)

    def with_sender(self, sender: TxSender) -> ContractClient:
        """The same contract, sending as another account."""
        return type(self)(self.w3, self.address, self.artifact, sender)

    def _call(self, fn_name: str, *args: Any) -> Any:
        """A view call; a revert raises the contract's typed error."""
        try:
            return getattr(self.contract.functions, fn_name)(*args).call()
        except ContractLogicError as exc:
            data = exc.data if isinstance(exc.data, str | bytes) else None
            decoder = self.sender.decoder if self.sender is not None else None
            if decoder is None:
                decoder = ErrorDecoder({self.contract_name: self.artifact.abi})
            raise decoder.decode(data) from exc

    def sign_typed(
        self,
        account: LocalAccount,
        primary_type: str,
        fields: Sequence[tuple[str, str]],
        message: dict[str, Any],
    ) -> tuple[bytes, bytes]:
        """``account``'s EIP-712 signature of ``message`` (a ``primary_type`` with ``fields``,
        ``(name, solidity type)``) in this contract's domain (``BRIGHT <contract>``, version
        1), in EIP-2098 compact form ``(r, vs)``."""
        typed = eip712_typed_data(
            f"BRIGHT {self.contract_name}",
            int(self.w3.eth.chain_id),
            self.address,
            primary_type,
            fields,
            message,
        )
        signed = account.sign_message(encode_typed_data(full_message=typed))
        vs = (signed.s | ((signed.v - 27) << 255)).to_bytes(32, "big")
        return signed.r.to_bytes(32, "big"), vs

    def _transact(self, fn_name: str, *args: Any, gas: int | None = None) -> TxReceipt:
        if self.sender is None:
            raise ChainError(f"{self.contract_name}.{fn_name} needs a sending account")
        fn = getattr(self.contract.functions, fn_name)(*args)
        return self.sender.transact(fn, gas=gas)

    def events(self, receipt: TxReceipt, event_name: str) -> list[EventData]:
        """The ``event_name`` events this contract emitted in ``receipt``."""
        event = getattr(self.contract.events, event_name)()
        topic = HexBytes(event.topic)
        return [
            event.process_log(log)
            for log in receipt["logs"]
            if log["address"] == self.address
            and log["topics"]
            and HexBytes(log["topics"][0]) == topic
        ]


def role_hash(name: str) -> bytes:
    """The AccessControl id of role ``name`` (``keccak256(name)``; the admin role is zero)."""
    if name == "DEFAULT_ADMIN_ROLE":
        return b"\x00" * 32
    return keccak(text=name)


class ParticipantRegistryClient(ContractClient):
    contract_name = "ParticipantRegistry"

    def register(self, account: str, role: Role, grid_area: str, meter_id: str = "") -> TxReceipt:
        """Register ``account``; ``grid_area`` and ``meter_id`` are text of at most 32 bytes."""
        return self._transact(
            "register",
            to_checksum_address(account),
            int(role),
            text_to_bytes32(grid_area, "grid area"),
            text_to_bytes32(meter_id, "meter id"),
        )

    def register_raw(self, account: str, role: int, grid_area: bytes, meter_id: bytes) -> TxReceipt:
        """Register with raw ABI values (the contract validates them; for tools and tests)."""
        return self._transact("register", account, role, grid_area, meter_id)

    def register_batch(self, rows: Sequence[tuple[str, Role, str, str]]) -> TxReceipt:
        """Register many ``(account, role, grid_area, meter_id)`` rows in one transaction."""
        return self._transact(
            "registerBatch",
            [to_checksum_address(r[0]) for r in rows],
            [int(r[1]) for r in rows],
            [text_to_bytes32(r[2], "grid area") for r in rows],
            [text_to_bytes32(r[3], "meter id") for r in rows],
        )

    def deactivate(self, account: str) -> TxReceipt:
        return self._transact("deactivate", to_checksum_address(account))

    def reactivate(self, account: str) -> TxReceipt:
        return self._transact("reactivate", to_checksum_address(account))

    def delegate_to(self, aggregator: str) -> TxReceipt:
        """The sending prosumer lets ``aggregator`` act for it."""
        return self._transact("delegateTo", to_checksum_address(aggregator))

    def revoke_delegation(self) -> TxReceipt:
        return self._transact("revokeDelegation")

    def grant_role(self, role_name: str, account: str) -> TxReceipt:
        return self._transact("grantRole", role_hash(role_name), to_checksum_address(account))

    def participant(self, account: str) -> Participant:
        role, active, registered_at, aggregator, area, meter = self.contract.functions.participant(
            to_checksum_address(account)
        ).call()
        return Participant(
            address=to_checksum_address(account),
            role=Role(role),
            active=bool(active),
            registered_at_s=int(registered_at),
            aggregator=None if aggregator == ZERO_ADDRESS else to_checksum_address(aggregator),
            grid_area=bytes32_to_text(area),
            meter_id=bytes32_to_text(meter),
        )

    def meter_holder(self, meter_id: str) -> tuple[str, str] | None:
        """``(account, grid area)`` of the participant registered with ``meter_id`` (a meter
        backs one participant at most), or None when no participant has it."""
        account, area = self.contract.functions.meterHolder(
            text_to_bytes32(meter_id, "meter id")
        ).call()
        if account == ZERO_ADDRESS:
            return None
        return to_checksum_address(account), bytes32_to_text(area)

    def is_active(self, account: str) -> bool:
        return bool(self.contract.functions.isActive(to_checksum_address(account)).call())

    def is_active_as(self, account: str, role: Role) -> bool:
        return bool(
            self.contract.functions.isActiveAs(to_checksum_address(account), int(role)).call()
        )

    def acts_for(self, agent: str, member: str) -> bool:
        return bool(
            self.contract.functions.actsFor(
                to_checksum_address(agent), to_checksum_address(member)
            ).call()
        )

    def has_role(self, role_name: str, account: str) -> bool:
        return bool(
            self.contract.functions.hasRole(
                role_hash(role_name), to_checksum_address(account)
            ).call()
        )

    def participant_count(self) -> int:
        return int(self.contract.functions.participantCount().call())


class FlexTokenClient(ContractClient):
    contract_name = "FlexToken"

    def mint(self, to: str, amount: int) -> TxReceipt:
        """Mint ``amount`` base units (6 decimals) to ``to``."""
        return self._transact("mint", to_checksum_address(to), amount)

    def mint_batch(self, payments: Sequence[tuple[str, int]]) -> TxReceipt:
        return self._transact(
            "mintBatch", [to_checksum_address(a) for a, _ in payments], [n for _, n in payments]
        )

    def transfer(self, to: str, amount: int) -> TxReceipt:
        return self._transact("transfer", to_checksum_address(to), amount)

    def approve(self, spender: str, amount: int) -> TxReceipt:
        return self._transact("approve", to_checksum_address(spender), amount)

    def grant_role(self, role_name: str, account: str) -> TxReceipt:
        return self._transact("grantRole", role_hash(role_name), to_checksum_address(account))

    def balance_of(self, account: str) -> int:
        return int(self.contract.functions.balanceOf(to_checksum_address(account)).call())

    def total_supply(self) -> int:
        return int(self.contract.functions.totalSupply().call())

    def decimals(self) -> int:
        return int(self.contract.functions.decimals().call())


CLIENTS: dict[str, type[ContractClient]] = {
    c.contract_name: c for c in (ParticipantRegistryClient, FlexTokenClient)
}
