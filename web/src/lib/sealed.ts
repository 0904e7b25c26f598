// Sealed (commit-reveal) orders: the commitment the contract computes, and the secret part
// (side, quantity, price, salt) kept in this browser until the reveal.
import { encodeAbiParameters, keccak256, type Hex } from "viem";

export interface SealedOrder {
  sessionId: number;
  side: 0 | 1;
  qtyWh: number;
  pricePerKwh: string; // base units, decimal string
  salt: Hex;
  commitment: Hex;
  revealed?: boolean;
}

/** keccak256(abi.encode(sessionId, trader, side, qtyWh, pricePerKwh, salt)), as FlexMarket. */
export function orderCommitment(sessionId: number, trader: Hex, side: 0 | 1, qtyWh: number, pricePerKwh: bigint, salt: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "address" }, { type: "uint8" }, { type: "uint48" }, { type: "uint40" }, { type: "bytes32" }],
      [BigInt(sessionId), trader, side, qtyWh, Number(pricePerKwh), salt],
    ),
  );
}

export function newSalt(): Hex {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return `0x${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

const key = (trader: string) => `bright.sealed.${trader.toLowerCase()}`;

export function loadSealed(trader: string): SealedOrder[] {
  try {
    return JSON.parse(localStorage.getItem(key(trader)) ?? "[]") as SealedOrder[];
  } catch {
    return [];
  }
}

export function saveSealed(trader: string, orders: SealedOrder[]): void {
  localStorage.setItem(key(trader), JSON.stringify(orders));
}
