// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {IMeterOracle} from "../interfaces/IMeterOracle.sol";
import {IParticipantRegistry} from "../interfaces/IParticipantRegistry.sol";
import {FlexRules} from "./FlexRules.sol";
import {MarketStorage} from "./MarketStorage.sol";
import {MeterEvidence} from "./MeterEvidence.sol";

/// @title MarketSettlement
/// @notice Settlement on delivery of a cleared FlexMarket session (core/rules.py
/// `settle_session` is its specification; FlexRules the arithmetic). A linked library: it runs
/// in FlexMarket's storage by delegatecall (FlexMarket alone would not fit the 24 KB limit),
/// and FlexMarket calls it only after checking the session's status, time and table hash.
///
/// Per seller (all its filled offers of the session, filled `F`): delivered `D` is the
/// meter-before baseline minus the metered net import over the delivery intervals (upward;
/// the other way round downward), each reading proven against the MeterOracle's commitment;
/// credited `C = clamp(D, 0, F)`, shortfall `S = max(0, lowerWh(F, tol) - D)` (the readings'
/// verification and the meter-before baseline are MeterEvidence's, shared with the disputes of
/// FlexCoordination's settlements); it earns
/// `proRata(escrow, C, volume)` and pays `min(energyCost(S, penalty), bond)` out of its
/// delivery bond. A seller whose meter has no committed reading of a needed interval (checked
/// on-chain) is credited nothing. The buyers share the rest pro rata to what they paid; the
/// rounding dust goes to the treasury.
library MarketSettlement {
    uint256 private constant MASK40 = 0xffffffffff;
    uint64 private constant INTERVAL_S = 900;

    /// @notice What the settlement needs from the market besides its storage.
    struct Env {
        IParticipantRegistry registry;
        IMeterOracle oracle;
        address treasury;
        uint256 sessionId;
    }

    /// @notice The settlement's totals (token base units).
    struct Outcome {
        uint256 earned;
        uint256 penalties;
        uint256 refunds;
        uint256 dust;
    }

    /// @dev The figures of one settlement (memory, against stack depth).
    struct Tally {
        uint256 escrow;
        uint256 volume;
        uint256 price;
        uint256 penaltyRate;
        uint256 tolerance;
        bool payAsBid;
        Env env;
        Outcome out;
    }

    /// @notice Settles session `env.sessionId` (its `s`), crediting the market balances in
    /// `accounts`; see the library's notice and `IFlexMarket.settleSession` for the inputs.
    function settle(
        MarketStorage.Session storage s,
        mapping(address => MarketStorage.Account) storage accounts,
        Env memory env,
        uint256[] calldata table,
        uint256[] calldata sellerOf,
        IFlexMarket.SellerEvidence[] calldata sellers
    ) external returns (Outcome memory) {
        Tally memory t;
        t.escrow = s.escrowed;
        t.volume = s.volumeWh;
        t.price = s.clearingPrice;
        t.penaltyRate = s.penaltyPerKwh;
        t.tolerance = s.toleranceBp;
        t.payAsBid = s.rule == IFlexMarket.PricingRule.PayAsBid;
        t.env = env;
        (uint256[] memory filled, uint256[] memory bonds) = _sellerFills(t, table, sellerOf, sellers);
        for (uint256 j; j < sellers.length; ++j) {
            _settleSeller(s, accounts, t, sellers[j], filled[j], bonds[j]);
        }
        _refundBuyers(accounts, t, table);
        t.out.dust = t.escrow - t.out.earned + t.out.penalties - t.out.refunds;
        if (t.out.dust != 0) _credit(accounts, env.treasury, t.out.dust);
        return t.out;
    }

    /// @dev Per seller, its filled Wh and delivery bonds; every offer row names its seller,
    /// every seller sold something, sellers ascend by address.
    function _sellerFills(
        Tally memory t,
        uint256[] calldata table,
        uint256[] calldata sellerOf,
        IFlexMarket.SellerEvidence[] calldata sellers
    ) private pure returns (uint256[] memory filled, uint256[] memory bonds) {
        uint256 m = sellers.length;
        filled = new uint256[](m);
        bonds = new uint256[](m);
        for (uint256 i; i < table.length; ++i) {
            uint256 word = table[i];
            uint256 idx = i >> 4 < sellerOf.length ? (sellerOf[i >> 4] >> ((i & 15) << 4)) & 0xffff : 0;
            if ((word >> 80) & 1 == uint8(IFlexMarket.Side.Bid)) {
                if (idx != 0) revert IFlexMarket.FlexMarketBadSeller(i);
                continue;
            }
            if (idx == 0 || idx > m || sellers[idx - 1].trader != address(uint160(word >> 96))) {
                revert IFlexMarket.FlexMarketBadSeller(i);
            }
            uint256 f = (word >> 40) & MASK40;
            filled[idx - 1] += f;
            bonds[idx - 1] += FlexRules.energyCost(f, t.penaltyRate);
        }
        for (uint256 j; j < m; ++j) {
            if (filled[j] == 0 || (j > 0 && sellers[j].trader <= sellers[j - 1].trader)) {
                revert IFlexMarket.FlexMarketBadSeller(j);
            }
        }
    }

    function _settleSeller(
        MarketStorage.Session storage s,
        mapping(address => MarketStorage.Account) storage accounts,
        Tally memory t,
        IFlexMarket.SellerEvidence calldata e,
        uint256 filledWh,
        uint256 bond
    ) private {
        (int256 delivered, bool missing) = _delivery(s, t.env, e);
        uint256 credited = missing ? 0 : FlexRules.creditedWh(delivered, filledWh);
        uint256 shortfall = FlexRules.shortfallWh(
            missing ? int256(0) : delivered, FlexRules.lowerWh(filledWh, t.tolerance)
        );
        uint256 earned = FlexRules.proRata(t.escrow, credited, t.volume);
        uint256 penalty = FlexRules.energyCost(shortfall, t.penaltyRate);
        if (penalty > bond) penalty = bond;
        MarketStorage.Account storage a = accounts[e.trader];
        // Cannot underflow: the seller's filled offers kept `bond` locked at clearing. Cannot
        // overflow: a balance is at most the tokens the market holds.
        unchecked {
            a.locked -= uint96(bond);
            a.free += uint96(earned + bond - penalty);
        }
        t.out.earned += earned;
        t.out.penalties += penalty;
        emit IFlexMarket.SellerSettled(
            t.env.sessionId, e.trader, filledWh, delivered, credited, shortfall, earned, penalty, missing
        );
    }

    /// @dev Which readings a seller's delivery needs (memory, against stack depth).
    struct Needed {
        bytes32 meterId;
        uint256 baseline; // readings before the delivery
        uint256 gap; // intervals between them and the delivery
        uint256 count; // all readings
        uint64 start; // the delivery's start
        uint8 product;
    }

    /// @dev The seller's delivery over the session, Wh (meter-before baseline, see the
    /// session's terms), or `missing` when one needed interval has no committed reading.
    function _delivery(
        MarketStorage.Session storage s,
        Env memory env,
        IFlexMarket.SellerEvidence calldata e
    ) private view returns (int256 delivered, bool missing) {
        Needed memory n;
        n.meterId = env.registry.participant(e.trader).meterId;
        n.baseline = s.baselineIntervals;
        n.gap = s.baselineGapIntervals;
        n.count = n.baseline + uint256(s.durationS) / INTERVAL_S;
        n.start = uint64(s.deliveryStart);
        n.product = uint8(s.product);
        if (e.missing != 0) {
            if (e.readings.length != 0 || e.missing > n.count) {
                revert IFlexMarket.FlexMarketReadingCount(e.trader, 0, e.readings.length);
            }
            uint64 at = _intervalOf(n, e.missing - 1);
            if (MeterEvidence.isCommitted(env.oracle, n.meterId, at)) {
                revert IFlexMarket.FlexMarketReadingPresent(e.trader, at);
            }
            return (0, true);
        }
        if (e.readings.length != n.count) {
            revert IFlexMarket.FlexMarketReadingCount(e.trader, n.count, e.readings.length);
        }
        int256 sum;
        for (uint256 j; j < n.baseline; ++j) {
            sum += _verified(env.oracle, n.meterId, e.trader, _intervalOf(n, j), e.readings[j]);
        }
        int256 baseline = MeterEvidence.meterBefore(sum, n.baseline);
        for (uint256 j = n.baseline; j < n.count; ++j) {
            int256 metered = _verified(env.oracle, n.meterId, e.trader, _intervalOf(n, j), e.readings[j]);
            delivered += FlexRules.deliveredWh(n.product, baseline, metered);
        }
    }

    /// @dev The start of needed interval `j`: the baseline intervals, then the delivery's.
    function _intervalOf(Needed memory n, uint256 j) private pure returns (uint64) {
        return MeterEvidence.intervalAt(n.start, n.baseline, n.gap, j);
    }

    /// @dev The net import of a reading the MeterOracle holds for `meterId` at `at`.
    function _verified(
        IMeterOracle oracle,
        bytes32 meterId,
        address seller,
        uint64 at,
        IFlexMarket.Reading calldata r
    ) private view returns (int256 netWh) {
        bool ok;
        (ok, netWh) = MeterEvidence.verified(oracle, meterId, at, r.importWh, r.exportWh, r.root, r.proof);
        if (!ok) revert IFlexMarket.FlexMarketBadReading(seller, at);
    }

    /// @dev Each filled bid gets its share of what the sellers did not earn plus their
    /// penalties: pro rata to what it paid (to what it bought when nothing was paid).
    function _refundBuyers(
        mapping(address => MarketStorage.Account) storage accounts,
        Tally memory t,
        uint256[] calldata table
    ) private {
        uint256 pot = t.escrow - t.out.earned + t.out.penalties;
        uint256 whole = t.escrow != 0 ? t.escrow : t.volume;
        for (uint256 i; i < table.length; ++i) {
            uint256 word = table[i];
            if ((word >> 80) & 1 != uint8(IFlexMarket.Side.Bid)) continue;
            uint256 f = (word >> 40) & MASK40;
            uint256 paid = FlexRules.energyCost(f, t.payAsBid ? word & MASK40 : t.price);
            uint256 refund = FlexRules.proRata(pot, t.escrow != 0 ? paid : f, whole);
            address buyer = address(uint160(word >> 96));
            if (refund != 0) _credit(accounts, buyer, refund);
            t.out.refunds += refund;
            emit IFlexMarket.BuyerRefunded(t.env.sessionId, (word >> 81) & 0x7fff, buyer, paid, refund);
        }
    }

    function _credit(mapping(address => MarketStorage.Account) storage accounts, address who, uint256 amount)
        private
    {
        accounts[who].free += SafeCast.toUint96(amount);
    }
}
