import { Api, ApiError, withQuery } from "./api";

const answer = (status: number, body: unknown) =>
  (async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } })) as typeof fetch;

it("sends the token and reads JSON", async () => {
  let seen: Headers | null = null;
  const api = new Api("tok", "", (async (_u: RequestInfo | URL, init?: RequestInit) => {
    seen = new Headers(init?.headers);
    return new Response('{"data":[],"count":0}', { status: 200 });
  }) as typeof fetch);
  expect(await api.get("/orders")).toEqual({ data: [], count: 0 });
  expect(seen!.get("Authorization")).toBe("Bearer tok");
});

it("raises the API's error body as an ApiError", async () => {
  const api = new Api(null, "", answer(403, { error: { code: "forbidden", message: "another member's data" } }));
  await expect(api.get("/orders")).rejects.toMatchObject({ status: 403, code: "forbidden", message: "another member's data" });
});

it("turns a failed connection into a network ApiError", async () => {
  const api = new Api(null, "", (async () => {
    throw new TypeError("Failed to fetch");
  }) as typeof fetch);
  const err = (await api.get("/sessions").catch((e: unknown) => e)) as ApiError;
  expect(err).toBeInstanceOf(ApiError);
  expect(err.code).toBe("network");
  expect(err.message).toMatch(/Cannot reach the BRIGHT API/);
});

it("builds query strings without empty values", () => {
  expect(withQuery("/orders", { limit: 50, session_id: undefined, side: null, cancelled: false })).toBe("/orders?limit=50&cancelled=false");
});
