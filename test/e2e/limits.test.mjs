// Limits (issue 12), each through the real client against a server of its
// own with a small setting: sockets per user, events per socket (those
// without a handler too), handshakes per source address (behind a trusted
// proxy, per X-Forwarded-For address), API requests per credential; every refusal counted
// in /metrics; refused handshakes logged at warn, sampled.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  WEBSOCKET, POLLING, ack, api, assertFailure, connect, connectError, delay, notify, once, open, startHerald, token, uid, waitFor,
} from "./harness.mjs";

// metric returns the value of one series of server's /metrics ("name" or
// 'name{label="v"}'), 0 when absent.
async function metric(server, series) {
  const text = await (await fetch(server.url + "/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.split(" ")[1]) : 0;
}

// One server at a time: each test starts its own, and the suite runs beside the others.
describe("limits", { concurrency: false, timeout: 90000 }, () => {
  it("sockets per user: the next socket gets connect_error code limit, the oldest stays", async (t) => {
    const server = await startHerald({ flags: ["--max-sockets-per-user", "3"] });
    t.after(() => server.stop());
    const user = uid("many");
    const jwt = token(user);
    const first = await connect(t, server, WEBSOCKET, jwt);
    const others = [await connect(t, server, POLLING, jwt), await connect(t, server, WEBSOCKET, jwt)];
    const { err, socket } = await connectError(t, server, WEBSOCKET, { auth: { token: jwt } });
    assert.deepEqual(err.data, { code: "limit" });
    assert.ok(err.message.length > 0);
    assert.equal(socket.active, false, "a refusal is final");
    // Nobody was kicked: all three still get the user's notifications.
    const n = await notify(server, user);
    for (const s of [first, ...others]) {
      assert.equal(s.connected, true);
      assert.equal((await s.inbox.take("notification:new")).notification.id, n.id);
    }
    // Another user is not affected; a freed place can be taken again.
    await connect(t, server, WEBSOCKET, token(uid("other")));
    others[0].disconnect();
    await waitFor(() => connect(t, server, WEBSOCKET, jwt), 5000, 100);
    // Retries while the freed place was not yet freed are refused too.
    const limited = await metric(server, 'herald_limited_total{limit="sockets_per_user"}');
    assert.ok(limited >= 1, `${limited}`);
    assert.equal(await metric(server, 'herald_handshakes_refused_total{code="limit"}'), limited);
  });

  it("events per socket: over the rate the ack is rate_limited; a socket that keeps flooding is disconnected", async (t) => {
    const server = await startHerald({ flags: ["--event-rate", "5"] });
    t.after(() => server.stop());
    const user = uid("chatty");
    const [s, calm] = [await connect(t, server, WEBSOCKET, token(user)), await connect(t, server, WEBSOCKET, token(user))];
    // A burst of 5 is fine, the 6th and later are refused (but answered).
    const acks = await Promise.all(Array.from({ length: 8 }, () => ack(s, "notification:unread_count")));
    assert.deepEqual(acks.slice(0, 5), Array(5).fill({ success: true, unreadCount: 0, unseenCount: 0 }));
    for (const a of acks.slice(5)) assertFailure(a, "rate_limited");
    // After a pause the socket may send again.
    await waitFor(async () => assert.deepEqual(await ack(s, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 }), 3000, 250);
    // A flood far over the rate: told, then disconnected by the server.
    const gone = once(s, "disconnect", 5000);
    for (let i = 0; i < 100; i++) s.emit("notification:unread_count", () => {});
    assert.equal(await gone, "io server disconnect");
    assert.ok(s.inbox.of("error").some((e) => e.code === "rate_limited"), `error event: ${s.inbox.summary()}`);
    // The user's other socket was not affected.
    assert.deepEqual(await ack(calm, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
    assert.ok((await metric(server, 'herald_limited_total{limit="events_per_socket"}')) >= 3);
    assert.equal(await metric(server, "herald_flood_disconnects_total"), 1);
  });

  it("events per socket: events without a handler count too; a flood of made-up names is disconnected", async (t) => {
    const server = await startHerald({ flags: ["--event-rate", "5"] });
    t.after(() => server.stop());
    const user = uid("unknown");
    const [s, calm] = [await connect(t, server, WEBSOCKET, token(user)), await connect(t, server, WEBSOCKET, token(user))];
    // Within the budget an unknown event is dropped unanswered, as before;
    // it still spends the budget, so a known event after 5 of them is refused.
    const unanswered = s.timeout(1000).emitWithAck("no:such:event", {}).then(() => "answered", () => "dropped");
    for (let i = 0; i < 4; i++) s.emit(`made-up-${i}`, {});
    // Over the budget an unknown event is answered rate_limited like a known one.
    const [known, unknown] = await Promise.all([ack(s, "notification:unread_count"), ack(s, "no:such:event")]);
    assertFailure(known, "rate_limited");
    assertFailure(unknown, "rate_limited");
    assert.equal(await unanswered, "dropped");
    const limited = await metric(server, 'herald_limited_total{limit="events_per_socket"}');
    assert.ok(limited >= 2, `${limited}`);
    // A flood of made-up names: told, then disconnected by the server.
    const gone = once(s, "disconnect", 5000);
    for (let i = 0; i < 100; i++) s.emit(`flood-${i}`, "x");
    assert.equal(await gone, "io server disconnect");
    assert.ok(s.inbox.of("error").some((e) => e.code === "rate_limited"), `error event: ${s.inbox.summary()}`);
    assert.deepEqual(await ack(calm, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
    assert.equal(await metric(server, "herald_flood_disconnects_total"), 1);
  });

  it("handshakes per address: over the rate 429 before the token is looked at; the client retries by itself", async (t) => {
    const server = await startHerald({ flags: ["--handshake-rate", "2"] });
    t.after(() => server.stop());
    const user = uid("hs");
    // 12 new sessions at once, half of them with a bad token: a burst of 2
    // passes, the rest get 429 (a transport error to the client), the bad
    // tokens among them without being verified.
    const start = Date.now();
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => new Promise((resolve) => {
      const s = open(t, server, POLLING, { auth: { token: i % 2 ? "not-a-jwt" : token(user) } });
      s.once("connect", () => resolve("connected"));
      s.once("connect_error", (err) => resolve(err.data?.code ?? err.description));
    })));
    const seconds = (Date.now() - start) / 1000;
    const limited = outcomes.filter((o) => o === 429).length;
    assert.ok(limited >= 12 - 2 - 2 * seconds, `${limited} of 12 refused with 429 in ${seconds}s: ${outcomes}`);
    assert.ok(outcomes.every((o) => ["connected", 429, "token_invalid"].includes(o)), String(outcomes));
    assert.ok(outcomes.some((o, i) => i % 2 && o === 429), "a bad token over the limit is refused before verification");
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) >= 1);
    // With reconnection on (the client's default), refused sessions come
    // back by themselves once the bucket refills.
    const retrying = Array.from({ length: 6 }, () => open(t, server, POLLING, { auth: { token: token(user) }, reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 }));
    await waitFor(() => assert.ok(retrying.every((s) => s.connected), `${retrying.filter((s) => s.connected).length} of 6 connected`), 15000, 200);
    assert.ok((await metric(server, 'herald_limited_total{limit="handshakes_per_address"}')) >= limited);
    assert.ok((await metric(server, 'herald_handshakes_refused_total{code="limit"}')) >= limited);
    await waitFor(() => assert.match(server.stderr(), /"msg":"handshake refused".*"code":"limit"/));
  });

  it("handshakes behind a proxy: per X-Forwarded-For address from a trusted peer, per peer otherwise", async (t) => {
    // This process is the "proxy": every client comes from 127.0.0.1 and
    // says which client it forwards in X-Forwarded-For.
    const trusting = await startHerald({ flags: ["--handshake-rate", "2", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1/32"] });
    t.after(() => trusting.stop());
    const plain = await startHerald({ flags: ["--handshake-rate", "2"] });
    t.after(() => plain.stop());
    const user = uid("xff");
    const N = 8;
    // burst opens N sessions at once, the i-th forwarding for xff(i), half
    // of them on each transport, and returns their outcomes and duration.
    const burst = async (server, xff) => {
      const start = Date.now();
      const outcomes = await Promise.all(Array.from({ length: N }, (_, i) => new Promise((resolve) => {
        const s = open(t, server, i % 2 ? POLLING : WEBSOCKET, { auth: { token: token(user) }, extraHeaders: { "x-forwarded-for": xff(i) } });
        s.once("connect", () => resolve("connected"));
        // A 429 is the polling request's status; a websocket only fails.
        s.once("connect_error", (err) => resolve(err.data?.code ?? (typeof err.description === "number" ? err.description : "transport error")));
      })));
      return { outcomes, seconds: (Date.now() - start) / 1000 };
    };
    const assertLimited = ({ outcomes, seconds }) => {
      const limited = outcomes.filter((o) => o !== "connected").length;
      assert.ok(limited >= N - 2 - 2 * seconds, `${limited} of ${N} refused in ${seconds}s: ${outcomes}`);
      assert.ok(outcomes.every((o) => ["connected", 429, "transport error"].includes(o)), String(outcomes));
      assert.ok(outcomes.includes(429), String(outcomes));
    };
    // Distinct forwarded clients through a trusted proxy: each has its own budget.
    // The client's own claims left of the proxy's entry change nothing.
    const distinct = await burst(trusting, (i) => `198.51.100.7, 203.0.113.${i + 1}, 10.0.0.9`);
    assert.deepEqual(distinct.outcomes, Array(N).fill("connected"));
    // One forwarded client: its budget, whatever the proxy's.
    assertLimited(await burst(trusting, () => "203.0.113.200"));
    await waitFor(() => assert.match(trusting.stderr(), /"msg":"handshake refused".*"remote":"203\.0\.113\.200:0"/));
    // A malformed header from the trusted peer is ignored as a whole: the
    // clients are the peer, whose budget nothing above touched.
    assertLimited(await burst(trusting, (i) => `203.0.113.${i + 1}:443`));
    // Not trusted: the header is not read, every client is the peer.
    assertLimited(await burst(plain, (i) => `203.0.113.${i + 1}`));
    await waitFor(() => assert.match(plain.stderr(), /"msg":"handshake refused".*"remote":"127\.0\.0\.1:\d+"/));
    assert.doesNotMatch(plain.stderr(), /203\.0\.113/);
  });

  it("API requests per credential: 429 rate_limited with Retry-After", async (t) => {
    const server = await startHerald({ flags: ["--api-rate", "3"] });
    t.after(() => server.stop());
    const start = Date.now();
    const all = await Promise.all(Array.from({ length: 12 }, () => api(server, "GET", "/v1/stats")));
    const seconds = (Date.now() - start) / 1000;
    const refused = all.filter((r) => r.status === 429);
    assert.ok(refused.length >= 12 - 3 - 3 * seconds, `${refused.length} of 12 refused in ${seconds}s`);
    assert.ok(all.every((r) => r.status === 200 || r.status === 429));
    for (const res of refused) {
      assert.equal(res.body.error.code, "rate_limited");
      assert.ok(Number(res.headers.get("retry-after")) >= 1, `Retry-After ${res.headers.get("retry-after")}`);
    }
    // A user's own routes have their own budget.
    assert.equal((await api(server, "GET", "/v1/me/unread-count", undefined, { auth: token(uid()) })).status, 200);
    assert.equal(await metric(server, 'herald_limited_total{limit="api_per_key"}'), refused.length);
  });

  it("refused handshakes are logged at warn with reason and code, sampled under a flood", async (t) => {
    const server = await startHerald({ flags: ["--handshake-rate", "0", "--max-unauthenticated-per-ip", "0"] });
    t.after(() => server.stop());
    const start = Date.now();
    const N = 80;
    const refusals = await Promise.all(Array.from({ length: N }, () => connectError(t, server, WEBSOCKET, { auth: { token: "not-a-jwt" } })));
    for (const { err } of refusals) assert.deepEqual(err.data, { code: "token_invalid" });
    // A refused origin is logged too (the browser's CORS refusal).
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "http://evil.example" } });
    assert.equal(res.status, 403);
    await delay(1100);
    // The next refusal after the flood reports how many were held back.
    await connectError(t, server, WEBSOCKET, { auth: {} });
    const refusalLines = () => server.stderr().split("\n").filter((l) => l.includes('"msg":"handshake refused"')).map((l) => JSON.parse(l));
    // The log reaches this process a little later than the connect_error.
    await waitFor(() => assert.ok(refusalLines().some((l) => l.code === "token_missing")));
    const seconds = (Date.now() - start) / 1000;
    const lines = refusalLines();
    for (const l of lines) {
      assert.equal(l.level, "WARN");
      assert.ok(l.reason && l.code, JSON.stringify(l));
    }
    assert.ok(lines.some((l) => l.code === "token_invalid" && l.cause), "a token refusal with its cause");
    assert.ok(lines.some((l) => l.code === "origin" && l.origin === "http://evil.example"), "the origin refusal");
    // Each line counts the refusals held back since the one before, and the
    // last one came after a pause: together they account for every refusal.
    const socketLines = lines.filter((l) => l.code !== "origin");
    assert.ok(socketLines.some((l) => l.suppressed > 0), `no line counts refusals held back: ${socketLines.length} lines`);
    assert.equal(socketLines.length + socketLines.reduce((n, l) => n + (l.suppressed ?? 0), 0), N + 1, "lines + held back = refusals");
    // 20 at once, then 10 a second.
    assert.ok(lines.length <= 22 + 10 * seconds, `${lines.length} log lines for ${N + 2} refusals in ${seconds}s`);
    assert.ok(lines.length < N, `${lines.length} log lines for ${N} refusals: not sampled`);
    assert.equal(await metric(server, 'herald_handshakes_refused_total{code="token_invalid"}'), N);
  });
});
