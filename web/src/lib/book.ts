// A session's book as the chain has it, rebuilt from its public OrderPlaced events: what a
// cancel must prove. FlexMarket keeps only a running hash of the book (and a checkpoint after
// every 32 orders), so the trader resupplies the records of its order's group of 32.
import { encodeAbiParameters, keccak256, parseAbiItem, type Address, type Hex } from "viem";
import type { AppConfig } from "./config";
import { publicClient } from "./chain";

export const CHECKPOINT_EVERY = 32;

export interface BookOrder {
  orderId: number;
  trader: Address;
  side: number;
  qtyWh: bigint;
  pricePerKwh: bigint;
  gridArea: Hex;
}

export interface OrderProof {
  priorHash: Hex;
  words: bigint[];
  areas: Hex[];
}

const ORDER_PLACED = parseAbiItem(
  "event OrderPlaced(uint256 indexed sessionId, uint256 indexed orderId, address indexed trader, uint8 side, uint48 qtyWh, uint40 pricePerKwh, bytes32 gridArea)",
);

/** The record word the running hash is built from: trader, side, quantity, price. */
export function recordWord(o: BookOrder): bigint {
  return (BigInt(o.trader) << 96n) | (BigInt(o.side) << 80n) | (o.qtyWh << 40n) | o.pricePerKwh;
}

/** The book's running hash after one order: bytes24(keccak256(abi.encode(h, id, word, area))). */
export function chainHash(prior: Hex, orderId: number, word: bigint, area: Hex): Hex {
  const h = keccak256(
    encodeAbiParameters(
      [{ type: "bytes24" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes32" }],
      [prior, BigInt(orderId), word, area],
    ),
  );
  return h.slice(0, 2 + 48) as Hex;
}

/** The proof of order `orderId`: the hash before it, then its group's records (or the book's
 * last orders when its group of 32 is not complete). */
export function proofOf(book: BookOrder[], orderId: number): OrderProof {
  if (orderId < 0 || orderId >= book.length) throw new Error(`the book has no order ${orderId}`);
  let h: Hex = `0x${"00".repeat(24)}`;
  for (const o of book.slice(0, orderId)) h = chainHash(h, o.orderId, recordWord(o), o.gridArea);
  const end = Math.min((Math.floor(orderId / CHECKPOINT_EVERY) + 1) * CHECKPOINT_EVERY, book.length);
  const group = book.slice(orderId, end);
  return { priorHash: h, words: group.map(recordWord), areas: group.map((o) => o.gridArea) };
}

/** A session's orders, in order, from the chain's logs. */
export async function readBook(cfg: AppConfig, sessionId: number): Promise<BookOrder[]> {
  const logs = await publicClient(cfg).getLogs({
    address: cfg.contracts.FlexMarket,
    event: ORDER_PLACED,
    args: { sessionId: BigInt(sessionId) },
    fromBlock: 0n,
  });
  const book = logs
    .map((l) => ({
      orderId: Number(l.args.orderId),
      trader: l.args.trader as Address,
      side: Number(l.args.side),
      qtyWh: BigInt(l.args.qtyWh ?? 0),
      pricePerKwh: BigInt(l.args.pricePerKwh ?? 0),
      gridArea: l.args.gridArea as Hex,
    }))
    .sort((a, b) => a.orderId - b.orderId);
  book.forEach((o, i) => {
    if (o.orderId !== i) throw new Error(`session ${sessionId}: order ids are not contiguous at ${o.orderId}`);
  });
  return book;
}
