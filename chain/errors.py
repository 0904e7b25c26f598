"""Typed errors for contract reverts, decoded from the contracts' ABIs.

A revert carries 4 bytes of selector and ABI-encoded arguments. :class:`ErrorDecoder` knows
the custom errors of every compiled contract (and ``Error(string)``, ``Panic(uint256)``) and
turns revert data into a :class:`RevertError` subclass named after the Solidity error, e.g.
``revert_error("ParticipantRegistryAlreadyRegistered")``, whose ``args`` hold the values.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from core.errors import ChainError

PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


class RevertError(ChainError):
    """A transaction or call reverted. Subclasses are named after the Solidity error."""

    error_name: str = "Revert"

    def __init__(self, error_name: str, args: dict[str, Any], contract: str | None = None) -> None:
        self.error_name = error_name
        self.args_by_name = args
        self.contract = contract
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        where = f" in {contract}" if contract else ""
        super().__init__(f"{error_name}({shown}){where}")


class UnknownRevertError(RevertError):
    """Revert data that matches no known error (or no data at all)."""


class TransactionFailed(ChainError):
    """A transaction could not be sent, was dropped, or timed out."""


_classes: dict[str, type[RevertError]] = {}


def revert_error(name: str) -> type[RevertError]:
    """The exception class for Solidity error ``name`` (created on first use)."""
    cls = _classes.get(name)
    if cls is None:
        cls = type(name, (RevertError,), {"__doc__": f"The contract reverted with {name}."})
        _classes[name] = cls
    return cls


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        if text and all(32 <= c < 127 for c in text):
            return repr(text.decode())
        return "0x" + value.hex()
    return str(value)


def _canonical_type(param: dict[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){t[5:]}"
    return t


class ErrorDecoder:
    """Decodes revert data with the errors declared in a set of ABIs."""

    def __init__(self, abis: dict[str, list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[dict[str, Any]], str]] = {}
        for contract, abi in abis.items():
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_canonical_type(p) for p in item.get("inputs", [])]
                signature = f"{item['name']}({','.join(types)})"
                selector = function_signature_to_4byte_selector(signature)
                self._errors.setdefault(selector, (item["name"], item.get("inputs", []), contract))

    def decode(self, data: bytes | str | None) -> RevertError:
        """The typed error for revert ``data`` (hex string or bytes)."""
        raw = _to_bytes(data)
        if len(raw) < 4:
            return UnknownRevertError("Revert", {"data": "0x" + raw.hex()})
        selector, body = raw[:4], raw[4:]
        if selector == function_signature_to_4byte_selector("Error(string)"):
            (reason,) = abi_decode(["string"], body)
            return revert_error("Error")("Error", {"reason": reason})
        if selector == function_signature_to_4byte_selector("Panic(uint256)"):
            (code,) = abi_decode(["uint256"], body)
            return revert_error("Panic")(
                "Panic", {"code": hex(code), "reason": PANIC_REASONS.get(code, "unknown")}
            )
        known = self._errors.get(selector)
        if known is None:
            return UnknownRevertError("Revert", {"data": "0x" + raw.hex()})
        name, inputs, contract = known
        values = abi_decode([_canonical_type(p) for p in inputs], body)
        args = {
            (p.get("name") or f"arg{i}"): (to_checksum_address(v) if p["type"] == "address" else v)
            for i, (p, v) in enumerate(zip(inputs, values, strict=True))
        }
        return revert_error(name)(name, args, contract)


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    text = data.strip()
    if text.startswith(("0x", "0X")):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
