"""Login with the wallet: Sign-In with Ethereum (EIP-4361) for a short-lived JWT."""

from __future__ import annotations

from fastapi import APIRouter

from api.access import on_chain_claims
from api.deps import ClaimsDep, DbDep, ScopeDep, ServiceDep
from api.names import directory_names, named
from api.schemas import LoginRequest, MePublic, NoncePublic, TokenPublic
from api.security import Claims, verify_login
from streams.directory import display_names

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/nonce", response_model=NoncePublic, summary="A single-use login nonce")
def nonce(service: ServiceDep) -> NoncePublic:
    expected = service.expected()
    value, expires = service.nonces.issue()
    return NoncePublic(
        nonce=value,
        expires_at=int(expires),
        domain=expected.domain,
        uri=expected.uri,
        chain_id=expected.chain_id,
    )


@router.post(
    "/login",
    response_model=TokenPublic,
    summary="Exchange a signed EIP-4361 message for an access token",
)
def login(body: LoginRequest, service: ServiceDep, db: DbDep) -> TokenPublic:
    expected = service.expected()
    msg = verify_login(body.message, body.signature, expected, service.nonces)
    # The roles in the token say what the address was at login; every request reads them
    # again from the read models (api.deps), and a deactivated account gets no token.
    signer = Claims(msg.address, (), expected.chain_id, 0)
    roles = on_chain_claims(db, signer).roles
    token, claims = service.tokens.issue(msg.address, roles, expected.chain_id)
    out = TokenPublic(
        access_token=token, expires_at=claims.expires_at, address=msg.address, roles=list(roles)
    )
    return named(out, display_names(db, expected.chain_id, [msg.address]))


@router.get(
    "/me",
    response_model=MePublic,
    summary="Who the access token speaks for, with its on-chain roles now",
)
def me(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> MePublic:
    return named(MePublic.model_validate(claims), directory_names(db, scope))
