import { describe, expect, it } from "vitest";
import { chainHash, proofOf, recordWord, type BookOrder } from "./book";

const area = `0x${"66".padEnd(64, "0")}` as const;
const order = (i: number): BookOrder => ({
  orderId: i,
  trader: `0x${(i + 1).toString(16).padStart(40, "0")}`,
  side: i % 2,
  qtyWh: BigInt(100 + i),
  pricePerKwh: 50n,
  gridArea: area,
});

describe("cancel proofs", () => {
  it("packs a record as the contract hashes it", () => {
    expect(recordWord(order(0))).toBe((1n << 96n) | (100n << 40n) | 50n);
  });

  it("proves an order against its group of 32, or the book's end", () => {
    const book = Array.from({ length: 40 }, (_, i) => order(i));
    const early = proofOf(book, 3);
    expect(early.words).toHaveLength(29); // orders 3..31
    const late = proofOf(book, 35);
    expect(late.words).toHaveLength(5); // orders 35..39
    // Chaining the proof from its prior hash gives the hash after its last record.
    let h = late.priorHash;
    late.words.forEach((w, k) => (h = chainHash(h, 35 + k, w, late.areas[k])));
    let full = `0x${"00".repeat(24)}` as `0x${string}`;
    book.forEach((o) => (full = chainHash(full, o.orderId, recordWord(o), o.gridArea)));
    expect(h).toBe(full);
    expect(() => proofOf(book, 40)).toThrow("no order 40");
  });
});
