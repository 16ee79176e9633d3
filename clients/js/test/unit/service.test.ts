// Retry rules of HeraldService, with a scripted fetch (pure logic; the
// calls against a real herald are in test/live).
import { describe, expect, it } from "vitest";
import { HeraldService } from "../../src/server.js";
import { HeraldError } from "../../src/client.js";

function scripted(answers: Array<number | "neterr">) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const f = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const a = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (a === "neterr") throw new TypeError("fetch failed");
    const body = a < 300 ? '{"notifications":[]}' : `{"error":{"code":"c${a}","message":"m${a}"}}`;
    return new Response(body, { status: a });
  }) as unknown as typeof fetch;
  return { f, calls };
}

describe("HeraldService retries", () => {
  it("retries network errors and 5xx with the same idempotency key", async () => {
    const { f, calls } = scripted(["neterr", 503, 201]);
    const s = new HeraldService({ baseUrl: "http://h/", apiKey: "k", fetch: f, backoffMs: 1 });
    await s.createNotification({ userId: "u", type: "t", title: "a", message: "b" });
    expect(calls.length).toBe(3);
    const keys = calls.map((c) => JSON.parse(String(c.init.body)).idempotencyKey);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(calls[0].url).toBe("http://h/v1/notifications");
    expect((calls[0].init.headers as Record<string, string>).Authorization).toBe("Bearer k");
  });

  it("does not retry a 4xx and rejects with herald's code", async () => {
    const { f, calls } = scripted([400]);
    const s = new HeraldService({ baseUrl: "http://h", apiKey: "k", fetch: f, backoffMs: 1 });
    const err = await s.createNotification({ userId: "u", type: "t", title: "a", message: "b" }).catch((e) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect(err).toMatchObject({ code: "c400", status: 400 });
    expect(calls.length).toBe(1);
  });

  it("gives up after the attempts; an emit then resolves false and reports", async () => {
    const { f, calls } = scripted([500]);
    const errors: Error[] = [];
    const s = new HeraldService({ baseUrl: "http://h", apiKey: "k", fetch: f, backoffMs: 1, attempts: 2, onError: (e) => errors.push(e) });
    expect(await s.emitUnreadCountUpdate("u", 3)).toBe(false);
    expect(calls.length).toBe(2);
    expect(errors[0]).toMatchObject({ code: "c500" });
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ event: "notification:unread_count", data: { unreadCount: 3 }, userId: "u" });
  });
});
