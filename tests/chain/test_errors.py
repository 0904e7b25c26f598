"""Decoding revert data into typed errors."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from chain.errors import ErrorDecoder, UnknownRevertError, revert_error

ABI = [
    {
        "type": "error",
        "name": "FlexMarketGateClosed",
        "inputs": [
            {"name": "sessionId", "type": "uint256"},
            {"name": "closesAt", "type": "uint64"},
        ],
    }
]


def test_custom_error_becomes_named_class_with_args():
    data = selector("FlexMarketGateClosed(uint256,uint64)") + encode(
        ["uint256", "uint64"], [7, 1800]
    )
    err = ErrorDecoder({"FlexMarket": ABI}).decode("0x" + data.hex())
    assert isinstance(err, revert_error("FlexMarketGateClosed"))
    assert err.args_by_name == {"sessionId": 7, "closesAt": 1800}
    assert str(err) == "FlexMarketGateClosed(sessionId=7, closesAt=1800) in FlexMarket"


def test_require_string_and_panic():
    decoder = ErrorDecoder({})
    err = decoder.decode(selector("Error(string)") + encode(["string"], ["nope"]))
    assert err.error_name == "Error" and err.args_by_name == {"reason": "nope"}
    panic = decoder.decode(selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert panic.args_by_name["reason"] == "arithmetic overflow or underflow"


def test_unknown_and_empty_data():
    decoder = ErrorDecoder({"X": ABI})
    assert isinstance(decoder.decode("0xdeadbeef"), UnknownRevertError)
    assert isinstance(decoder.decode(None), UnknownRevertError)
    assert isinstance(decoder.decode("not hex"), UnknownRevertError)
