"""Onboarding: members registered on-chain and written to the member directory, one by one or
a whole community from a CSV file.

The chain is the truth for registration (address, role, grid area, the member's meter:
``ParticipantRegistry``, registered with the admin key); the directory
(:mod:`streams.directory`, in the read-model database) for the rest (display name, extra
meters, flexible assets). :func:`import_members` does both for a list of rows and is
idempotent: a member already registered with the same terms is not sent again, its directory
entry is rewritten with the same values. ``bright member add|import``, ``bright meter add``,
``bright asset add`` (:mod:`bright.cli_members`) and the demo community
(:func:`bright.demo.register_community`, from ``bright/demo_community.csv``) all go through it.

The community file (CSV, UTF-8, a header row; columns in any order):

=============  ========  =================================================================
column         required  meaning
=============  ========  =================================================================
name           yes       display name (1 to 64 characters)
role           yes       prosumer, aggregator, dso, oracle or market-operator
grid_area      yes       grid area (feeder), at most 32 bytes
meter_id       prosumer  the member's meter, at most 32 bytes, one member per meter
address        no        0x and 40 hex digits; empty: the member holding ``meter_id`` on-chain,
                         or a new key (printed once; a row without a meter needs an address)
assets         no        ``kind:POWERkW[/CAPACITYkWh]`` separated by ``;``, e.g.
                         ``heat-pump:3kW; battery:5kW/10kWh; pv:4.2kW; ev-charger:11kW``
=============  ========  =================================================================

Every row is checked before anything is sent; the errors name the line (the header is line
1) and the column.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from chain.domain import Role
from chain.platform import Platform
from core.codec import EncodingError
from core.errors import BrightError
from core.settings import ChainSettings
from streams.directory import (
    DirectoryError,
    check_asset,
    check_display_name,
    get_profile,
    put_profile,
)

COLUMNS = ("name", "role", "grid_area", "meter_id", "address", "assets")
REQUIRED = ("name", "role", "grid_area", "meter_id")
BATCH = 100
"""Most registrations per ``registerBatch`` transaction."""
_ASSET = re.compile(
    r"^\s*(?P<kind>[a-z-]+)\s*:\s*(?P<power>[0-9]+(?:\.[0-9]+)?)\s*kWp?\s*"
    r"(?:/\s*(?P<capacity>[0-9]+(?:\.[0-9]+)?)\s*kWh)?\s*$",
    re.IGNORECASE,
)


class MemberError(BrightError, ValueError):
    """A member that cannot be added as given."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # not from a file: an option of `bright member add`
            return f"{self.column}: {self.message}"
        return f"line {self.line}, column {self.column}: {self.message}"


class CommunityFileError(MemberError):
    """The rows of a community file that break the rules, each with its line and column."""

    def __init__(self, source: str, problems: Sequence[RowProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{source}: {len(self.problems)} problem(s), nothing was registered:\n{lines}"
        )


@dataclass(frozen=True)
class MemberRow:
    """One member to register and write to the directory (a checked row)."""

    display_name: str
    role: Role
    grid_area: str
    meter_id: str = ""
    address: str | None = None
    assets: tuple[dict[str, Any], ...] = ()
    line: int = 0
    """Line of the community file (0: not from a file)."""


@dataclass
class ImportResult:
    """What :func:`import_members` did."""

    registered: list[str] = field(default_factory=list)
    """Addresses registered on-chain now."""
    existing: list[str] = field(default_factory=list)
    """Addresses already registered with the same terms (nothing sent)."""
    new_keys: dict[str, str] = field(default_factory=dict)
    """Address -> private key (0x hex) of the keys made now; shown once, kept by no one else."""
    directory: int = 0
    """Directory entries written."""
    addresses: list[str] = field(default_factory=list)
    """The rows' addresses, in the rows' order."""

    def summary(self) -> dict[str, Any]:
        return {
            "registered": len(self.registered),
            "already_registered": len(self.existing),
            "directory_entries": self.directory,
            "members": self.addresses,
            "new_keys": self.new_keys,
        }


# ---- rows ------------------------------------------------------------------------------------


def parse_assets(text: str) -> list[dict[str, Any]]:
    """``"heat-pump:3kW; battery:5kW/10kWh"`` -> checked assets (:func:`check_asset`)."""
    out = []
    for part in (p for p in text.split(";") if p.strip()):
        m = _ASSET.match(part)
        if m is None:
            raise DirectoryError(
                f"{part.strip()!r} is not kind:POWERkW or battery:POWERkW/CAPACITYkWh"
            )
        capacity = m["capacity"]
        out.append(
            check_asset(
                {
                    "kind": m["kind"].lower(),
                    "power_kw": float(m["power"]),
                    "capacity_kwh": None if capacity is None else float(capacity),
                }
            )
        )
    return out


def format_assets(assets: Iterable[Mapping[str, Any]]) -> str:
    """The inverse of :func:`parse_assets`."""
    parts = []
    for a in assets:
        text = f"{a['kind']}:{a['power_kw']:g}kW"
        if a.get("capacity_kwh") is not None:
            text += f"/{a['capacity_kwh']:g}kWh"
        parts.append(text)
    return "; ".join(parts)


def _text32(value: str, what: str) -> str:
    if len(value.encode()) > 32:
        raise DirectoryError(f"{what} has at most 32 bytes, {value!r} has {len(value.encode())}")
    return value


def check_row(
    values: Mapping[str, str | None], line: int = 0, need_address: bool = True
) -> tuple[MemberRow | None, list[RowProblem]]:
    """One row's values (text, as read from a CSV) checked: the row, or its problems
    (``need_address``: a row without a meter id must give its address)."""
    problems: list[RowProblem] = []

    def get(column: str) -> str:
        return (values.get(column) or "").strip()

    def check(column: str, fn: Any) -> Any:
        try:
            return fn()
        except (DirectoryError, EncodingError, ValueError) as exc:
            problems.append(RowProblem(line, column, str(exc)))
            return None

    name = check("name", lambda: check_display_name(get("name")))
    role = check("role", lambda: Role.parse(get("role")) if get("role") else _missing("a role"))
    if role is Role.NONE:
        problems.append(RowProblem(line, "role", "role none cannot be registered"))
    area = check(
        "grid_area",
        lambda: (
            _text32(get("grid_area"), "a grid area")
            if get("grid_area")
            else _missing("a grid area")
        ),
    )
    meter = check("meter_id", lambda: _text32(get("meter_id"), "a meter id"))
    if role is Role.PROSUMER and meter == "":
        problems.append(RowProblem(line, "meter_id", "a prosumer needs its meter id"))
    address = check("address", lambda: _address(get("address")))
    if need_address and not address and meter == "" and role is not None:
        problems.append(
            RowProblem(line, "address", "a member without a meter id needs its address")
        )
    assets = check("assets", lambda: parse_assets(get("assets")))
    if problems:
        return None, problems
    return (
        MemberRow(
            display_name=name,
            role=role,
            grid_area=area,
            meter_id=meter,
            address=address or None,
            assets=tuple(assets),
            line=line,
        ),
        [],
    )


def _missing(what: str) -> Any:
    raise DirectoryError(f"{what} is required")


def _address(text: str) -> str:
    if not text:
        return ""
    if not is_hex_address(text):
        raise DirectoryError(f"{text!r} is not an address (0x and 40 hex digits)")
    try:
        return str(to_checksum_address(text))
    except ValueError:
        raise DirectoryError(f"{text!r} is not an address (0x and 40 hex digits)") from None


def read_community(
    text: str, source: str = "community file", need_address: bool = True
) -> list[MemberRow]:
    """The checked rows of a community CSV; raises :class:`CommunityFileError` naming every
    problem (line and column) and registers nothing if there is one. ``need_address=False``
    lets rows without a meter come without an address (the demo gives them its own)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise CommunityFileError(source, [RowProblem(1, "-", "the file is empty: no header row")])
    reader.fieldnames = header
    problems: list[RowProblem] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    for c in missing:
        problems.append(RowProblem(1, c, "missing column"))
    for c in unknown:
        problems.append(RowProblem(1, c, f"unknown column; the columns are {', '.join(COLUMNS)}"))
    if problems:
        raise CommunityFileError(source, problems)
    rows: list[MemberRow] = []
    seen_meter: dict[str, int] = {}
    seen_address: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if None in values:
            problems.append(RowProblem(line, "-", "more values than columns"))
            continue
        if not any((v or "").strip() for v in values.values()):
            continue  # a blank line
        row, found = check_row(values, line, need_address)
        problems += found
        meter = (values.get("meter_id") or "").strip()
        if meter:
            if meter in seen_meter:
                problems.append(
                    RowProblem(
                        line, "meter_id", f"meter {meter!r} is already on line {seen_meter[meter]}"
                    )
                )
            seen_meter.setdefault(meter, line)
        address = (values.get("address") or "").strip().lower()
        if address:
            if address in seen_address:
                problems.append(
                    RowProblem(line, "address", f"address already on line {seen_address[address]}")
                )
            seen_address.setdefault(address, line)
        if row is None:
            continue
        rows.append(row)
    if problems:
        raise CommunityFileError(source, problems)
    if not rows:
        raise CommunityFileError(source, [RowProblem(2, "-", "no member rows")])
    return rows


def read_community_file(path: Path) -> list[MemberRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MemberError(f"cannot read {path}: {exc}") from exc
    return read_community(text, str(path))


def write_community(rows: Iterable[MemberRow]) -> str:
    """The CSV text of ``rows`` (addresses as given; assets as :func:`format_assets`)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.display_name,
                r.role.label,
                r.grid_area,
                r.meter_id,
                r.address or "",
                format_assets(r.assets),
            ]
        )
    return out.getvalue()


# ---- registering ----------------------------------------------------------------------------


def import_members(
    platform: Platform,
    admin: LocalAccount,
    rows: Sequence[MemberRow],
    directory: Engine | None,
    source: str = "members",
    keep_entries: bool = False,
) -> ImportResult:
    """Register the rows' members not yet registered (in batches, with ``admin``) and write
    their directory entries into ``directory`` (None: the chain only; ``keep_entries``: only
    the entries missing, so a member's own changes stay, as the demo does on a restart).

    A row without an address is the member registered with its meter id, or a new key. A
    member registered with other terms (role, grid area, meter) or a meter held by another
    address is a problem of its row: nothing is sent if any row has one."""
    registry = platform.registry(admin)
    result = ImportResult()
    problems: list[RowProblem] = []
    resolved: list[tuple[MemberRow, str]] = []
    to_register: list[MemberRow] = []
    for row in rows:
        address = row.address
        onchain = None if address is None else registry.participant(address)
        if address is None:
            holder = registry.meter_holder(row.meter_id) if row.meter_id else None
            if holder is not None:
                address = holder[0]
            else:
                key: LocalAccount = Account.create()
                address = str(key.address)
                result.new_keys[address] = "0x" + bytes(key.key).hex()
        elif row.meter_id and onchain is not None and not onchain.registered:
            holder = registry.meter_holder(row.meter_id)
            if holder is not None and holder[0] != address:
                problems.append(
                    RowProblem(
                        row.line,
                        "meter_id",
                        f"meter {row.meter_id!r} is registered to another participant",
                    )
                )
                continue
        if onchain is None:
            onchain = registry.participant(address)
        if onchain.registered:
            differs = [
                (column, have, want)
                for column, have, want in (
                    ("role", onchain.role.label, row.role.label),
                    ("grid_area", onchain.grid_area, row.grid_area),
                    ("meter_id", onchain.meter_id, row.meter_id),
                )
                if have != want
            ]
            for column, have, want in differs:
                problems.append(
                    RowProblem(
                        row.line,
                        column,
                        f"{address} is registered with {column} "
                        f"{have!r}, not {want!r} (the registry does not change it)",
                    )
                )
            if not differs:
                result.existing.append(address)
        else:
            to_register.append(row)
        resolved.append((row, address))
    if problems:
        raise CommunityFileError(source, problems)
    by_row = {id(r): a for r, a in resolved}
    for i in range(0, len(to_register), BATCH):
        chunk = to_register[i : i + BATCH]
        registry.register_batch([(by_row[id(r)], r.role, r.grid_area, r.meter_id) for r in chunk])
        result.registered += [by_row[id(r)] for r in chunk]
    result.addresses = [a for _, a in resolved]
    if directory is not None:
        chain_id = platform.deployment.chain_id
        with Session(directory) as s, s.begin():
            for row, address in resolved:
                if keep_entries and get_profile(s, chain_id, address) is not None:
                    continue
                put_profile(s, chain_id, address, row.display_name, assets=list(row.assets))
                result.directory += 1
    return result


def read_models_url(settings: ChainSettings) -> str:
    """The read-model database a run uses: ``BRIGHT_DATABASE_URL``, or SQLite in the state
    folder (as ``bright up``'s read side)."""
    url = os.environ.get("BRIGHT_DATABASE_URL")
    return url or f"sqlite:///{settings.state_dir / 'read_models.sqlite'}"


def member_names(members: Iterable[Any]) -> dict[str, str]:
    """``{address: display name}`` of members that have one (demo members, rows), for log
    lines (:func:`core.names.label`)."""
    out = {}
    for m in members:
        name = getattr(m, "display_name", "")
        if name:
            out[str(m.address)] = str(name)
    return out
