// Live tokens (DESIGN §2, §5 auth:refresh): a socket whose JWT expires is
// disconnected at exp, visibly to the client, unless it sent a fresh token
// for the same user through auth:refresh.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  DEFAULT, POLLING, WEBSOCKET, ack, assertFailure, assertKeys, connect, delay, nowSec, sign, startHerald, token, uid, waitFor,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

// expiresSoon mints a token for user expiring in secs whole seconds (JWT
// exp has a resolution of one second) and returns it with its exp in ms.
function expiresSoon(user, secs, opts = {}) {
  const exp = nowSec() + secs;
  return { jwt: sign({ sub: user, email: `${user}@example.com`, iat: nowSec(), exp, ...opts }), expMs: exp * 1000 };
}

// expectExpiry waits for the socket to be told and dropped, and checks
// that it happened at (not before) expMs.
async function expectExpiry(s, expMs, budget = Math.max(0, expMs - Date.now()) + 6000) {
  const told = await s.inbox.take("auth:expired", { ms: budget });
  const at = s.inbox.all.find((r) => r.data === told).at;
  assertKeys(told, ["message", "code"], "auth:expired");
  assert.equal(told.code, "token_expired");
  assert.ok(told.message.length > 0);
  const err = await s.inbox.take("error", { ms: 1000 });
  assert.deepEqual(err, told, "the seed's error event says the same");
  await waitFor(() => assert.ok(s.inbox.history.some((h) => h.startsWith("disconnect:")), "disconnected"));
  assert.equal(s.inbox.history.find((h) => h.startsWith("disconnect:")), "disconnect: io server disconnect", "a server disconnect the client can see, and does not retry");
  assert.equal(s.active, false);
  assert.ok(at >= expMs - 50, `disconnected ${expMs - at}ms before exp`);
  assert.ok(at <= expMs + 4000, `disconnected ${at - expMs}ms after exp`);
}

describe("token expiry", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of [WEBSOCKET, POLLING, DEFAULT]) {
    describe(`over ${mode.name}`, () => {
      it("a socket whose token expires gets auth:expired and error {message, code}, then io server disconnect", async (t) => {
        const user = uid("exp");
        const { jwt, expMs } = expiresSoon(user, 4);
        // Reconnection on: the client must still not come back by itself.
        const s = await connect(t, server, mode, jwt, { reconnection: true, reconnectionDelay: 100 });
        assert.deepEqual(await ack(s, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
        await expectExpiry(s, expMs);
        // "io server disconnect" is final: the client gave up reconnecting.
        assert.equal(s.active, false, "no reconnection after an expiry");
        assert.equal(s.connected, false);
      });

      it("auth:refresh with a fresh token acks {success: true} and keeps the socket past the old exp, until the new one", async (t) => {
        const user = uid("refresh");
        const old = expiresSoon(user, 4);
        const s = await connect(t, server, mode, old.jwt);
        // At least 3s past the old exp, however long the connect took.
        const fresh = expiresSoon(user, Math.max(4, Math.ceil((old.expMs - Date.now()) / 1000) + 3));
        assert.deepEqual(await ack(s, "auth:refresh", { token: fresh.jwt }), { success: true });
        await delay(Math.max(0, old.expMs + 1000 - Date.now()));
        assert.equal(s.connected, true, "still connected a second after the old exp");
        assert.equal(s.inbox.of("auth:expired").length, 0);
        assert.deepEqual(await ack(s, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
        await expectExpiry(s, fresh.expMs);
      });

      it("auth:refresh refuses another user's, another tenant's and bad tokens with {success: false, error}", async (t) => {
        const user = uid("victim");
        const tenant = uid("tenant");
        const s = await connect(t, server, mode, token(user, { tenant }));
        const later = nowSec() + 3600;
        const cases = [
          [{ token: token(uid("other"), { tenant }) }, "forbidden"],
          [{ token: token(user, { tenant: uid("tenant") }) }, "forbidden"],
          [{ token: token(user) }, "forbidden"], // same sub, default tenant
          [{ token: sign({ sub: user, tenant_id: tenant, exp: later }, { secret: "wrong" }) }, "token_invalid"],
          [{ token: sign({ sub: user, tenant_id: tenant, exp: later }, { header: { alg: "none" }, signature: "" }) }, "token_invalid"],
          [{ token: sign({ sub: user, tenant_id: tenant, exp: nowSec() - 5 }) }, "token_expired"],
          [{ token: sign({ sub: user, tenant_id: tenant, exp: later, nbf: later - 60 }) }, "token_invalid"],
          [{ token: "garbage" }, "token_invalid"],
          [{ token: "" }, "token_missing"],
          [{}, "token_missing"],
          ["not an object", "invalid"],
        ];
        for (const [payload, code] of cases) {
          assertFailure(await ack(s, "auth:refresh", payload), code);
        }
        assertFailure(await ack(s, "auth:refresh"), "token_missing");
        assert.equal(s.connected, true, "a refused refresh does not disconnect");
      });

      it("a refresh refused for another user's token does not extend the socket: it expires at its own exp", async (t) => {
        const user = uid("victim");
        const { jwt, expMs } = expiresSoon(user, 4);
        const s = await connect(t, server, mode, jwt);
        assertFailure(await ack(s, "auth:refresh", { token: token(uid("other")) }), "forbidden");
        await expectExpiry(s, expMs);
      });
    });
  }

  it("a token without exp never expires the socket", async (t) => {
    const user = uid("noexp");
    const s = await connect(t, server, WEBSOCKET, sign({ sub: user, iat: nowSec() }));
    await delay(2500);
    assert.equal(s.connected, true);
    assert.equal(s.inbox.of("auth:expired").length, 0);
  });
});
