import { rfc3339, siweMessage } from "./siwe";

it("lays out the EIP-4361 message as api/siwe.py parses it", () => {
  const text = siweMessage({
    domain: "127.0.0.1:8000",
    address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    uri: "http://127.0.0.1:8000",
    chainId: 31337,
    nonce: "32891756aBcd",
    issuedAt: new Date("2026-11-26T14:00:00.456Z"),
    expiresAt: new Date("2026-11-26T14:05:00Z"),
    statement: "Sign in to BRIGHT.",
  });
  expect(text).toBe(
    [
      "127.0.0.1:8000 wants you to sign in with your Ethereum account:",
      "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      "",
      "Sign in to BRIGHT.",
      "",
      "URI: http://127.0.0.1:8000",
      "Version: 1",
      "Chain ID: 31337",
      "Nonce: 32891756aBcd",
      "Issued At: 2026-11-26T14:00:00Z",
      "Expiration Time: 2026-11-26T14:05:00Z",
    ].join("\n"),
  );
});

it("writes RFC 3339 in UTC with whole seconds", () => {
  expect(rfc3339(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 999)))).toBe("2026-01-02T03:04:05Z");
});
