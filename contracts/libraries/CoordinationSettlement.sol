// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFlexCoordination} from "../interfaces/IFlexCoordination.sol";
import {IMeterOracle} from "../interfaces/IMeterOracle.sol";
import {AccountBook} from "./AccountBook.sol";
import {FlexRules} from "./FlexRules.sol";
import {MeterEvidence} from "./MeterEvidence.sol";
import {PackedRows} from "./PackedRows.sol";
import {PackedWords} from "./PackedWords.sol";

/// @title CoordinationSettlement
/// @notice The settlement of a FlexCoordination request: proposal, dispute and finalization
/// (see IFlexCoordination for the flow, the tables and the rules). A linked library: it runs in
/// FlexCoordination's storage by delegatecall (the contract alone would not fit the 24 KB
/// limit), and FlexCoordination calls it only after checking the request's status, the time,
/// the caller and the targets table's hash; it moves no tokens (the contract does).
///
/// The only free inputs of a proposal are each member-interval's delivered Wh and missing-data
/// flag. The flags are checked against the MeterOracle's commitments (one `committedWords`
/// call per 256 meter indexes gives every interval of the window): flagged exactly where the
/// row's meter has no commitment. Everything else is computed here with the one rule set
/// (core/rules.py, FlexRules; PackedRows.tally, eight intervals at a time): per interval
/// `C = clamp(D, 0, upperWh(T))`, `S = max(0, lowerWh(T) - D)`; per member `payout = max(0, sum energyCost(C, price) -
/// sum energyCost(S, penaltyPerKwh))`, the uncovered rest of the penalty, and the points
/// `sum energyCost(C, POINTS_PER_KWH) - energyCost(S, PENALTY_POINTS_PER_KWH)`. A dispute
/// recomputes one row's deliveries from its meter readings (MeterEvidence) and the request's
/// meter-before baseline, and the same figures from them.
library CoordinationSettlement {
    using AccountBook for IFlexCoordination.Account;

    /// @notice Reputation points per credited kWh (settlement.domain.SettlementRules default).
    uint256 internal constant POINTS_PER_KWH = 1000;
    /// @notice Reputation points taken per kWh of shortfall (SettlementRules default).
    uint256 internal constant PENALTY_POINTS_PER_KWH = 1000;

    uint64 private constant INTERVAL_S = FlexRules.INTERVAL_S;
    uint256 private constant BP = FlexRules.BP;
    uint256 private constant MASK32 = 0xffffffff;

    /// @notice What the library needs from the contract besides the request's storage.
    struct Env {
        IMeterOracle oracle;
        uint256 requestId;
        uint256 bond;
        uint64 challengeEnds;
    }

    /// @dev The money terms of a request, and the shape of its tables.
    struct Terms {
        uint256 n;
        uint256 words;
        uint256 tw;
        uint256 dw;
        uint256 window;
        PackedRows.Rates rates;
        uint64 windowStart;
        uint256 requestId;
        uint256 row;
        uint256 rows;
        uint256 bond;
        IMeterOracle oracle;
        Cache cache;
    }

    /// @dev One bitmap word of the meter commitments per interval of a window (bit `b`: the
    /// meter of index `256 * index + b`), with their AND (committed in every interval) and OR.
    struct CommittedWord {
        uint256 index;
        uint256 all;
        uint256 any;
        uint256[] bits;
    }

    /// @dev The meter bitmap words fetched so far in one proposal (`last`: the last used).
    struct Cache {
        uint256 cached;
        CommittedWord last;
        CommittedWord[] words;
    }

    // ---------------------------------------------------------------- proposal

    /// @notice Checks and records the proposal `deliveries` for the accepted request `r`
    /// (whose targets table `table` the contract checked): one deliveries row per table row,
    /// flags exactly where the row's meter has no commitment, no delivery in a flagged
    /// interval or beyond the window. Computes each row's result, stores the settlement hash,
    /// the proposer and the challenge window, and emits `SettlementProposed`.
    /// @return payoutTotal the sum of the computed payouts
    function propose(
        IFlexCoordination.Request storage r,
        Env memory env,
        uint256[] calldata table,
        uint256[] calldata deliveries
    ) external returns (uint256 payoutTotal) {
        uint256[] memory results;
        Terms memory m = _terms(r);
        m.oracle = env.oracle;
        (results, payoutTotal) = _proposedRows(m, table, deliveries);
        bytes32 h = _settlementHash(results, _hashCalldata(deliveries));
        r.status = IFlexCoordination.Status.Settling;
        r.settlementHash = h;
        r.proposer = msg.sender;
        r.challengeEnds = env.challengeEnds;
        r.bondHeld = env.bond != 0;
        r.disputes = 0;
        uint256 refund = r.escrow - payoutTotal;
        emit IFlexCoordination.SettlementProposed(
            env.requestId, msg.sender, payoutTotal, refund, env.bond, env.challengeEnds, h, results, deliveries
        );
    }

    /// @dev Every row of a proposal (see `propose`): the results and their payouts' sum.
    function _proposedRows(
        Terms memory m,
        uint256[] calldata table,
        uint256[] calldata deliveries
    ) private view returns (uint256[] memory results, uint256 payoutTotal) {
        results = new uint256[](table.length / m.tw);
        if (deliveries.length != results.length * m.dw) {
            revert IFlexCoordination.FlexCoordinationLengthMismatch(results.length * m.dw, deliveries.length);
        }
        for (uint256 i; i < results.length; ++i) {
            uint256 result = _proposedRow(m, table, deliveries, i);
            results[i] = result;
            // Cannot overflow: a payout (the top 96 bits) is at most the member's most, covered
            // by the escrow, and a table has fewer than 2^16 rows.
            unchecked {
                payoutTotal += result >> 160;
            }
        }
    }

    /// @dev Row `i` of a proposal: its flags against the meter's commitments, its deliveries,
    /// its result.
    function _proposedRow(Terms memory m, uint256[] calldata table, uint256[] calldata deliveries, uint256 i)
        private
        view
        returns (uint256 result)
    {
        // Cannot overflow: row `i` starts inside the checked lengths (far below 2^64).
        unchecked {
            uint256 tAt = i * m.tw;
            uint256[] calldata row = PackedRows.slice(deliveries, i * m.dw, m.dw);
            _checkFlags(m, table, tAt, row[0]);
            _checkDelivered(m, table[tAt], row);
            (result,) = _calldataResult(m, PackedRows.slice(table, tAt + 2, m.words), row[1:]);
        }
    }

    /// @dev The result of a row with targets `targets` and deliveries `delivered`.
    function _calldataResult(Terms memory m, uint256[] calldata targets, uint256[] calldata delivered)
        private
        pure
        returns (uint256 result, uint256 payout)
    {
        uint256[4] memory acc;
        for (uint256 j; j < m.words; ++j) PackedRows.tally(acc, targets[j], delivered[j], m.rates);
        return _result(acc);
    }

    /// @dev The deliveries `row` of the row with first table word `head`: flags only inside
    /// the window, nothing delivered in a flagged interval or beyond the window.
    function _checkDelivered(Terms memory m, uint256 head, uint256[] calldata row) private pure {
        uint256 missing = row[0];
        uint256[] calldata delivered = row[1:];
        // Only the window's intervals can be flagged (keeps the deliveries canonical).
        if (missing & ~m.window != 0) {
            revert IFlexCoordination.FlexCoordinationDeliveryWithoutData(_member(head), m.n);
        }
        if (missing != 0 && _deliveredWhereFlagged(delivered, missing)) {
            uint256 flagged = PackedRows.nonZero(delivered, missing, m.n);
            revert IFlexCoordination.FlexCoordinationDeliveryWithoutData(_member(head), _lowestBit(flagged));
        }
        if (!PackedRows.zeroFrom(delivered, m.n)) {
            revert IFlexCoordination.FlexCoordinationDeliveryWithoutData(_member(head), m.n);
        }
    }

    /// @dev Whether some interval flagged in `missing` has a delivery other than zero: word
    /// by word, a zero word (what a flagged row mostly has) costs one read.
    function _deliveredWhereFlagged(uint256[] calldata delivered, uint256 missing)
        private
        pure
        returns (bool)
    {
        for (uint256 j; j < delivered.length; ++j) {
            uint256 bits = (missing >> (8 * j)) & 0xff;
            uint256 w = delivered[j];
            if (bits == 0 || w == 0) continue;
            for (uint256 f; f < 8; ++f) {
                if ((bits >> f) & 1 == 1 && (w >> (32 * f)) & MASK32 != 0) return true;
            }
        }
        return false;
    }

    /// @dev The row at `tAt` is flagged (`missing`) exactly where its meter has no commitment
    /// in the window. The meter's bitmap word is read once per proposal; a meter committed in
    /// every interval needs no look at the single intervals.
    function _checkFlags(Terms memory m, uint256[] calldata table, uint256 tAt, uint256 missing)
        private
        view
    {
        uint256 index = table[tAt] & type(uint96).max;
        CommittedWord memory w = _committedWords(m, m.cache, index >> 8);
        uint256 bit = index & 255;
        uint256 have = (w.all >> bit) & 1 == 1 ? m.window : _committedRow(w, bit, m.n);
        if (missing & have != 0) _failFlag(m, table, tAt, true, _lowestBit(missing & have));
        uint256 unflagged = m.window & ~have & ~missing;
        if (unflagged != 0) _failFlag(m, table, tAt, false, _lowestBit(unflagged));
    }

    function _failFlag(Terms memory m, uint256[] calldata table, uint256 tAt, bool present, uint256 k)
        private
        pure
    {
        address member = _member(table[tAt]);
        bytes32 meterId = bytes32(table[tAt + 1]);
        // Exact: `k` is an interval of the window (below 256).
        uint64 startS = m.windowStart + uint64(k) * INTERVAL_S;
        if (present) revert IFlexCoordination.FlexCoordinationMeterDataPresent(member, meterId, startS);
        revert IFlexCoordination.FlexCoordinationMissingMeterData(member, meterId, startS);
    }

    /// @dev Bit `k` set where meter bit `bit` of `w.bits[k]` is (its commitments in the window).
    function _committedRow(CommittedWord memory w, uint256 bit, uint256 n)
        private
        pure
        returns (uint256 have)
    {
        if ((w.any >> bit) & 1 == 0) return 0;
        uint256[] memory words = w.bits;
        for (uint256 k; k < n; ++k) have |= ((words[k] >> bit) & 1) << k;
    }

    /// @dev Bitmap word `wordIndex` of every interval of the window, with their AND and OR
    /// (one oracle call per word index and proposal; the last one used is kept at hand).
    function _committedWords(Terms memory m, Cache memory c, uint256 wordIndex)
        private
        view
        returns (CommittedWord memory w)
    {
        w = c.last;
        if (c.cached != 0 && w.index == wordIndex) return w;
        uint256 count = c.cached;
        for (uint256 j; j < count; ++j) {
            if (c.words[j].index == wordIndex) {
                c.last = c.words[j];
                return c.last;
            }
        }
        // The oracle returns one word per interval (`m.n` of them).
        uint256[] memory bits = m.oracle.committedWords(m.windowStart, m.n, wordIndex);
        w = CommittedWord(wordIndex, type(uint256).max, 0, bits);
        for (uint256 k; k < bits.length; ++k) (w.all, w.any) = (w.all & bits[k], w.any | bits[k]);
        if (count == c.words.length) {
            CommittedWord[] memory grown = new CommittedWord[](count == 0 ? 4 : 2 * count);
            for (uint256 j; j < count; ++j) grown[j] = c.words[j];
            c.words = grown;
        }
        (c.words[count], c.cached, c.last) = (w, count + 1, w);
    }

    // ---------------------------------------------------------------- dispute

    /// @dev Figures of one dispute (memory, against stack depth).
    struct Recount {
        address member;
        bytes32 meterId;
        uint256 k;
        uint256 gap;
        uint8 direction;
        bool noBaseline;
        int256 baseline;
        uint256 missing;
        uint256[] row;
        bytes32 hash;
        uint256 payoutTotal;
        uint256 refund;
        uint256 result;
    }

    /// @notice Corrects row `d.row` of the settlement proposed for `r` from `d.readings`: the
    /// request's `baselineIntervals` readings before the window (ending `baselineGapIntervals`
    /// before it), then one per window interval, each the member's current committed value
    /// with its Merkle proof, or (root zero) a proof that there is none; `d.results` and
    /// `d.deliveries` must be the stored proposal. Reverts with
    /// `FlexCoordinationRowCorrect` when the recomputed row is the proposed one. Updates the
    /// settlement hash, counts the dispute, releases the bond to the disputer if the proposal
    /// still held it, and emits `SettlementDisputed`.
    /// @return bondPaid what the contract owes the disputer
    function dispute(
        IFlexCoordination.Request storage r,
        Env memory env,
        uint256[] calldata table,
        IFlexCoordination.Dispute calldata d
    ) external returns (uint256 bondPaid) {
        Terms memory m = _disputeTerms(r, env, table.length, d.row);
        _checkProposal(r, m, d.results, d.deliveries);
        Recount memory c = _recount(r, m, table, d.deliveries, d.readings);
        return _correct(r, m, c, _rowResult(m, table, c.row), d.results, d.deliveries);
    }

    /// @dev The request's terms for a dispute of row `row` (which must be one of the table's).
    function _disputeTerms(IFlexCoordination.Request storage r, Env memory env, uint256 tableLength, uint256 row)
        private
        view
        returns (Terms memory m)
    {
        m = _terms(r);
        (m.requestId, m.row, m.oracle, m.bond, m.rows) = (env.requestId, row, env.oracle, env.bond, tableLength / m.tw);
        if (row >= m.rows) revert IFlexCoordination.FlexCoordinationBadRow(m.requestId, row, m.rows);
    }

    /// @dev The result of row `m.row` of `table` with the recounted deliveries `row`.
    function _rowResult(Terms memory m, uint256[] calldata table, uint256[] memory row)
        private
        pure
        returns (uint256 result)
    {
        uint256[4] memory acc;
        uint256[] calldata targets = PackedRows.slice(table, m.row * m.tw + 2, m.words);
        for (uint256 j; j < m.words; ++j) PackedRows.tally(acc, targets[j], row[j + 1], m.rates);
        (result,) = _result(acc);
    }

    /// @dev Writes the recounted row `c` (result `result`) into the proposal: the new
    /// settlement hash, the dispute count, the bond; emits `SettlementDisputed`.
    function _correct(
        IFlexCoordination.Request storage r,
        Terms memory m,
        Recount memory c,
        uint256 result,
        uint256[] calldata results,
        uint256[] calldata deliveries
    ) private returns (uint256 bondPaid) {
        bytes32 deliveriesHash = _replacedHash(deliveries, c.row, m.row * m.dw);
        uint256[] memory newResults = results;
        newResults[m.row] = result;
        c.hash = _settlementHash(newResults, deliveriesHash);
        c.payoutTotal = _payoutTotal(newResults);
        r.settlementHash = c.hash;
        r.disputes += 1;
        if (r.bondHeld) (bondPaid, r.bondHeld) = (m.bond, false);
        c.result = result;
        c.refund = r.escrow - c.payoutTotal;
        _emitDisputed(m, c, bondPaid);
    }

    function _emitDisputed(Terms memory m, Recount memory c, uint256 bondPaid) private {
        emit IFlexCoordination.SettlementDisputed(
            m.requestId, msg.sender, c.member, m.row, bondPaid, c.payoutTotal, c.refund, c.hash, c.result, c.row
        );
    }

    /// @dev The hash of `deliveries` with the words from `at` on replaced by `row`.
    function _replacedHash(uint256[] calldata deliveries, uint256[] memory row, uint256 at)
        private
        pure
        returns (bytes32)
    {
        uint256[] memory words = deliveries;
        for (uint256 j; j < row.length; ++j) words[at + j] = row[j];
        return keccak256(abi.encodePacked(words));
    }

    /// @dev Row `m.row` recounted from `readings` (see `dispute`): its deliveries row
    /// (`c.row`: the missing-data bitmap, then the delivered Wh packed as int32).
    function _recount(
        IFlexCoordination.Request storage r,
        Terms memory m,
        uint256[] calldata table,
        uint256[] calldata deliveries,
        MeterEvidence.Reading[] calldata readings
    ) private view returns (Recount memory c) {
        c.member = _member(table[m.row * m.tw]);
        c.meterId = bytes32(table[m.row * m.tw + 1]);
        c.k = r.baselineIntervals;
        c.gap = r.baselineGapIntervals;
        c.direction = uint8(r.direction);
        if (readings.length != c.k + m.n) {
            revert IFlexCoordination.FlexCoordinationReadingCount(c.member, c.k + m.n, readings.length);
        }
        int256 sum;
        for (uint256 j; j < c.k; ++j) {
            (bool present, int256 net) = _read(c, m, j, readings[j]);
            if (present) sum += net;
            else c.noBaseline = true;
        }
        if (!c.noBaseline) c.baseline = MeterEvidence.meterBefore(sum, c.k);
        c.row = new uint256[](m.dw);
        for (uint256 k; k < m.n; ++k) _recountInterval(c, m, k, readings[c.k + k]);
        c.row[0] = c.missing;
        if (_sameRow(c.row, deliveries, m.row * m.dw)) {
            revert IFlexCoordination.FlexCoordinationRowCorrect(m.requestId, m.row);
        }
    }

    /// @dev Window interval `k` of the recount: flagged without data, or delivered against the
    /// baseline (0 without one), packed into `c.row`.
    function _recountInterval(Recount memory c, Terms memory m, uint256 k, MeterEvidence.Reading calldata e)
        private
        view
    {
        (bool present, int256 metered) = _read(c, m, c.k + k, e);
        int256 d;
        if (!present) c.missing |= 1 << k;
        else if (!c.noBaseline) d = FlexRules.deliveredWh(c.direction, c.baseline, metered);
        if (d < type(int32).min || d > type(int32).max) {
            revert IFlexCoordination.FlexCoordinationDeliveryOutOfRange(c.member, k, d);
        }
        // Exact: `d` fits an int32 (checked above); its two's complement, 32 bits.
        c.row[1 + k / 8] |= (uint256(d) & MASK32) << (32 * (k % 8));
    }

    /// @dev Needed interval `j` of the recount: a verified reading (`present`, its net
    /// import), or proven missing.
    function _read(Recount memory c, Terms memory m, uint256 j, MeterEvidence.Reading calldata e)
        private
        view
        returns (bool present, int256 netWh)
    {
        uint64 at = MeterEvidence.intervalAt(m.windowStart, c.k, c.gap, j);
        if (e.root == bytes32(0)) {
            if (e.importWh != 0 || e.exportWh != 0 || e.proof.length != 0) {
                revert IFlexCoordination.FlexCoordinationBadReading(c.member, at);
            }
            if (MeterEvidence.isCommitted(m.oracle, c.meterId, at)) {
                revert IFlexCoordination.FlexCoordinationReadingPresent(c.member, at);
            }
            return (false, 0);
        }
        bool ok;
        (ok, netWh) = MeterEvidence.verified(m.oracle, c.meterId, at, e.importWh, e.exportWh, e.root, e.proof);
        if (!ok) revert IFlexCoordination.FlexCoordinationBadReading(c.member, at);
        present = true;
    }

    function _sameRow(uint256[] memory row, uint256[] calldata deliveries, uint256 at)
        private
        pure
        returns (bool)
    {
        for (uint256 j; j < row.length; ++j) if (row[j] != deliveries[at + j]) return false;
        return true;
    }

    // ---------------------------------------------------------------- finalization

    /// @notice Finalizes the settlement proposed for `r` (after its challenge window): the
    /// resupplied `results` (as proposed and corrected) with the hash of the deliveries must
    /// give the stored settlement hash; credits each row's payout and points to its member,
    /// marks the request settled and emits `SettlementFinalized`.
    /// @return payoutTotal the payouts credited
    /// @return bondReturned what the contract owes the proposer (the bond, unless paid out)
    function finalize(
        IFlexCoordination.Request storage r,
        mapping(address => IFlexCoordination.Account) storage accounts,
        Env memory env,
        uint256[] calldata table,
        uint256[] calldata results,
        bytes32 deliveriesHash
    ) external returns (uint256 payoutTotal, uint256 bondReturned) {
        uint256 tw = 2 + PackedWords.wordsFor(r.intervals);
        bytes32 h = _finalHash(r, env.requestId, table.length / tw, results, deliveriesHash);
        payoutTotal = _credit(accounts, table, results, tw);
        r.status = IFlexCoordination.Status.Settled;
        if (r.bondHeld) (bondReturned, r.bondHeld) = (env.bond, false);
        uint256 refund = r.escrow - payoutTotal;
        emit IFlexCoordination.SettlementFinalized(
            env.requestId, msg.sender, payoutTotal, refund, bondReturned, h, results
        );
    }

    /// @dev The settlement hash of `results` and `deliveriesHash`, which must be the stored one.
    function _finalHash(
        IFlexCoordination.Request storage r,
        uint256 requestId,
        uint256 rows,
        uint256[] calldata results,
        bytes32 deliveriesHash
    ) private view returns (bytes32 h) {
        if (results.length != rows) revert IFlexCoordination.FlexCoordinationLengthMismatch(rows, results.length);
        h = _settlementHash(results, deliveriesHash);
        if (h != r.settlementHash) {
            revert IFlexCoordination.FlexCoordinationSettlementMismatch(requestId, r.settlementHash, h);
        }
    }

    /// @dev Credits each row's payout and points (its result word) to its member.
    function _credit(
        mapping(address => IFlexCoordination.Account) storage accounts,
        uint256[] calldata table,
        uint256[] calldata results,
        uint256 tw
    ) private returns (uint256 payoutTotal) {
        for (uint256 i; i < results.length; ++i) {
            uint256 word = results[i];
            // The result word's top 96 bits: exact in uint96.
            uint96 payout = uint96(word >> 160);
            // Bits 64-95 are the points, int32 in two's complement: the truncation to 32 bits
            // selects the field.
            accounts[_member(table[i * tw])].credit(payout, int32(uint32(word >> 64)));
            // Cannot overflow: a payout is below 2^96 and a table has fewer than 2^16 rows.
            unchecked {
                payoutTotal += payout;
            }
        }
    }

    // ---------------------------------------------------------------- the rules

    /// @dev The request's terms and table shapes.
    function _terms(IFlexCoordination.Request storage r) private view returns (Terms memory m) {
        m.n = r.intervals;
        m.words = PackedWords.wordsFor(m.n);
        m.tw = 2 + m.words;
        m.dw = 1 + m.words;
        m.window = m.n == 256 ? type(uint256).max : (1 << m.n) - 1;
        m.rates = PackedRows.Rates(
            BP + r.toleranceBp,
            BP - r.toleranceBp,
            r.pricePerKwh,
            r.penaltyPerKwh,
            POINTS_PER_KWH,
            PENALTY_POINTS_PER_KWH
        );
        m.windowStart = r.windowStart;
    }

    /// @dev A row's result word from its sums: `payout = max(0, reward - penalty)`, the
    /// uncovered rest of the penalty (capped at 2^64 - 1) and the points (capped to int32).
    function _result(uint256[4] memory acc) private pure returns (uint256 word, uint256 payout) {
        (uint256 reward, uint256 penalty, uint256 plus, uint256 minus) = (acc[0], acc[1], acc[2], acc[3]);
        uint256 uncovered;
        // Cannot underflow: each difference is taken only when it is positive.
        unchecked {
            if (reward > penalty) payout = reward - penalty;
            else uncovered = penalty - reward;
        }
        if (uncovered > type(uint64).max) uncovered = type(uint64).max;
        // Exact: both sums are below 2^96 (see PackedRows.tally).
        int256 points = int256(plus) - int256(minus);
        if (points > type(int32).max) points = type(int32).max;
        if (points < type(int32).min) points = type(int32).min;
        // Exact: `points` is in the int32 range; its two's complement, 32 bits.
        word = payout << 160 | uncovered << 96 | (uint256(points) & MASK32) << 64;
    }

    // ---------------------------------------------------------------- hashes and helpers

    /// @dev `results` and `deliveries` are the stored proposal's.
    function _checkProposal(
        IFlexCoordination.Request storage r,
        Terms memory m,
        uint256[] calldata results,
        uint256[] calldata deliveries
    ) private view {
        if (results.length != m.rows) {
            revert IFlexCoordination.FlexCoordinationLengthMismatch(m.rows, results.length);
        }
        if (deliveries.length != m.rows * m.dw) {
            revert IFlexCoordination.FlexCoordinationLengthMismatch(m.rows * m.dw, deliveries.length);
        }
        bytes32 h = _settlementHash(results, _hashCalldata(deliveries));
        if (h != r.settlementHash) {
            revert IFlexCoordination.FlexCoordinationSettlementMismatch(m.requestId, r.settlementHash, h);
        }
    }

    /// @dev `keccak256(abi.encode(keccak256(results), deliveriesHash))`.
    function _settlementHash(uint256[] memory results, bytes32 deliveriesHash) private pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(abi.encodePacked(results)), deliveriesHash));
    }

    /// @dev `keccak256(abi.encodePacked(a))`, hashed in scratch memory past the free memory
    /// pointer (nothing is allocated).
    function _hashCalldata(uint256[] calldata a) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            calldatacopy(p, a.offset, shl(5, a.length))
            h := keccak256(p, shl(5, a.length))
        }
    }

    function _payoutTotal(uint256[] memory results) private pure returns (uint256 total) {
        for (uint256 i; i < results.length; ++i) total += results[i] >> 160;
    }

    /// @dev The member of a table row with first word `head`.
    function _member(uint256 head) private pure returns (address) {
        return address(uint160(head >> 96));
    }

    function _lowestBit(uint256 x) private pure returns (uint256 k) {
        while ((x >> k) & 1 == 0) ++k;
    }
}
