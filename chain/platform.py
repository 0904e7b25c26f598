"""One object that holds a connection to the chain and the deployed contracts.

``Platform.connect(url, deployment)`` gives typed clients that send as a chosen account:
``platform.registry(sender=key)``. Accounts of the development mnemonic are derived with
``dev_accounts``; anything else comes from keys in the settings.
"""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from chain.compiler import Artifact, load_artifacts
from chain.contracts import FlexTokenClient, ParticipantRegistryClient
from chain.deploy import Deployment
from chain.errors import ErrorDecoder
from chain.market import FlexMarketClient
from chain.tx import TxSender
from core.errors import ChainError


@lru_cache(maxsize=8)
def dev_accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    """The first ``count`` accounts of ``mnemonic`` (BIP-44 path m/44'/60'/0'/0/i), as anvil."""
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    )


def connect(url: str, timeout_s: float = 30.0) -> Web3:
    """A web3 connection to ``url``; raises ChainError if nothing answers there."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        w3.eth.chain_id  # noqa: B018 - the first call proves the node answers
    except Exception as exc:
        raise ChainError(f"no EVM node answers at {url}: {exc}") from exc
    return w3


def make_sender(
    w3: Web3, account: LocalAccount, artifacts: dict[str, Artifact], timeout_s: float = 60.0
) -> TxSender:
    """A sender whose reverts are decoded with the errors of ``artifacts``."""
    decoder = ErrorDecoder({n: a.abi for n, a in artifacts.items()})
    return TxSender(w3, account, decoder, timeout_s=timeout_s)


class Platform:
    """The deployed platform on one chain."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        artifacts: dict[str, Artifact] | None = None,
        tx_timeout_s: float = 60.0,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.artifacts = artifacts or load_artifacts()
        self.decoder = ErrorDecoder({n: a.abi for n, a in self.artifacts.items()})
        self.tx_timeout_s = tx_timeout_s
        chain_id = int(w3.eth.chain_id)
        if chain_id != deployment.chain_id:
            raise ChainError(
                f"the deployment is for chain {deployment.chain_id}, the node is chain {chain_id}"
            )

    def sender(self, account: LocalAccount | str) -> TxSender:
        """A transaction sender for ``account`` (a LocalAccount or a private key)."""
        acct = Account.from_key(account) if isinstance(account, str) else account
        return TxSender(self.w3, acct, self.decoder, timeout_s=self.tx_timeout_s)

    def registry(self, sender: LocalAccount | str | None = None) -> ParticipantRegistryClient:
        return ParticipantRegistryClient(
            self.w3,
            self.deployment.address("ParticipantRegistry"),
            self.artifacts["ParticipantRegistry"],
            self.sender(sender) if sender is not None else None,
        )

    def market(self, sender: LocalAccount | str | None = None) -> FlexMarketClient:
        return FlexMarketClient(
            self.w3,
            self.deployment.address("FlexMarket"),
            self.artifacts["FlexMarket"],
            self.sender(sender) if sender is not None else None,
        )

    def token(self, sender: LocalAccount | str | None = None) -> FlexTokenClient:
        return FlexTokenClient(
            self.w3,
            self.deployment.address("FlexToken"),
            self.artifacts["FlexToken"],
            self.sender(sender) if sender is not None else None,
        )
