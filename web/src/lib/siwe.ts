// Sign-In with Ethereum (EIP-4361) messages, laid out exactly as api/siwe.py parses them.

export interface SiweFields {
  domain: string;
  address: string; // EIP-55 checksummed
  uri: string;
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expiresAt?: Date;
  statement?: string;
}

/** RFC 3339 in UTC with whole seconds and a Z. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function siweMessage(f: SiweFields): string {
  const lines = [`${f.domain} wants you to sign in with your Ethereum account:`, f.address, ""];
  if (f.statement) lines.push(f.statement, "");
  lines.push(
    `URI: ${f.uri}`,
    "Version: 1",
    `Chain ID: ${f.chainId}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${rfc3339(f.issuedAt)}`,
  );
  if (f.expiresAt) lines.push(`Expiration Time: ${rfc3339(f.expiresAt)}`);
  return lines.join("\n");
}
