// Operations and the edges of the HTTP API: health, readiness and metrics
// endpoints, the CLI (herald token, herald notify) against a live server,
// CORS for the seed's origins, and bad API input that must store nothing.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  API_KEY, JWT_SECRET, PG, WEBSOCKET, POLLING, api, assertNew, assertPayload, connect, listAll, notify, runHerald, startHerald, token, uid,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

describe("ops", { concurrency: true, timeout: 30000 }, () => {
  it("/healthz, /readyz and /metrics respond", async () => {
    const health = await fetch(server.url + "/healthz");
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    const ready = await fetch(server.url + "/readyz");
    assert.equal(ready.status, 200);
    const readyText = await ready.text();
    // On PostgreSQL the answer also reports the connection pool.
    assert.match(readyText, PG ? /^ready\npool: \d+ connections \(\d+ in use, \d+ idle\) of at most \d+/ : /^ready\n$/);
    // Some API traffic first, so that its counters have samples.
    await notify(server, uid("metrics"));
    const metrics = await fetch(server.url + "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type"), /^text\/plain/);
    const text = await metrics.text();
    for (const name of ["herald_sockets", "herald_users", "herald_connections", "herald_http_requests_total", "herald_events_out_total", "go_goroutines"]) {
      assert.match(text, new RegExp(`^${name}[{ ]`, "m"), `metric ${name}`);
    }
  });

  it("herald token mints a JWT the server accepts; herald notify creates a notification the user receives", async (t) => {
    const user = uid("cli");
    const tenant = uid("tenant");
    const minted = await runHerald(["token", "--sub", user, "--email", "cli@example.com", "--role", "admin", "--tenant", tenant, "--ttl", "10m"], { JWT_SECRET });
    assert.equal(minted.code, 0, minted.stderr);
    const jwt = minted.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));
    assert.equal(claims.sub, user);
    assert.equal(claims.tenant_id, tenant);
    assert.ok(Math.abs(claims.exp - claims.iat - 600) <= 1, "ttl 10m");

    const s = await connect(t, server, WEBSOCKET, jwt);
    assert.equal(s.hello.userId, user);
    assert.equal(s.hello.email, "cli@example.com");
    await s.inbox.take("notification:unread_count");

    const sent = await runHerald(
      ["notify", "--url", server.url, "--user", user, "--tenant", tenant, "--type", "cli", "--title", "From the CLI", "--message", "hi", "--data", '{"k":[1,2]}'],
      { HERALD_API_KEY: API_KEY },
    );
    assert.equal(sent.code, 0, sent.stderr);
    const n = JSON.parse(sent.stdout).notifications[0];
    assert.equal(n.userId, user);
    assert.equal(n.tenantId, tenant);
    assert.deepEqual(n.data, { k: [1, 2] });
    assertNew(await s.inbox.take("notification:new"), n);
    assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 1 });

    const refused = await runHerald(["notify", "--url", server.url, "--user", user, "--title", "x"], { HERALD_API_KEY: "wrong" });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /401/);
    const noSecret = await runHerald(["token", "--sub", user], {});
    assert.notEqual(noSecret.code, 0);
    assert.match(noSecret.stderr, /JWT_SECRET/);
    assert.equal((await listAll(server, jwt)).length, 1, "the refused notify stored nothing");
  });

  it("bad API input is a 4xx {error: {code, message}} and stores nothing", async () => {
    const user = uid("bad-input");
    const body = { userId: user, type: "info", title: "T", message: "M" };
    const cases = [
      ["no API key", { body, opts: { auth: null } }, 401, "unauthorized"],
      ["wrong API key", { body, opts: { auth: "wrong" } }, 401, "unauthorized"],
      ["a user JWT instead of the API key", { body, opts: { auth: token(user) } }, 401, "unauthorized"],
      ["malformed JSON", { opts: { raw: '{"userId": "' + user + '", "title": ' } }, 400, "invalid"],
      ["not an object", { opts: { raw: "[1,2]" } }, 400, "invalid"],
      ["empty body", { opts: { raw: "" } }, 400, "invalid"],
      ["unknown field", { body: { ...body, colour: "red" } }, 400, "invalid"],
      ["missing userId", { body: { type: "info", title: "T" } }, 400, "invalid"],
      ["missing title", { body: { userId: user, type: "info" } }, 400, "invalid"],
      ["missing type", { body: { userId: user, title: "T" } }, 400, "invalid"],
      ["both userId and userIds", { body: { ...body, userIds: [user] } }, 400, "invalid"],
      ["bad expiresAt", { body: { ...body, expiresAt: "tomorrow" } }, 400, "invalid"],
      ["oversized body", { body: { ...body, message: "x".repeat(1100000) } }, 413, "too_large"],
    ];
    for (const [name, { body: b, opts = {} }, status, code] of cases) {
      const res = await api(server, "POST", "/v1/notifications", b, opts);
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, name);
      assert.equal(typeof res.body.error.message, "string", name);
      assert.deepEqual(Object.keys(res.body), ["error"], name);
    }
    for (const [name, b, status] of [
      ["emit without a target", { event: "x", data: {} }, 400],
      ["emit of a reserved event", { event: "connect", data: {}, userId: user }, 400],
      ["emit with data that is not an object", { event: "x", data: [1], userId: user }, 400],
    ]) {
      assert.equal((await api(server, "POST", "/v1/emit", b)).status, status, name);
    }
    assert.equal((await api(server, "GET", "/v1/stats", undefined, { auth: null })).status, 401);
    assert.equal((await api(server, "GET", "/v1/me/notifications", undefined, { auth: null })).body.error.code, "token_missing");
    assert.equal((await api(server, "GET", "/v1/me/notifications", undefined, { auth: "garbage" })).status, 401);
    assert.deepEqual(await listAll(server, token(user)), [], "nothing was stored");
  });

  it("the user API: list, count, read, read-all, delete with the user's JWT", async () => {
    const user = uid("me");
    const jwt = token(user);
    const ns = [await notify(server, user), await notify(server, user), await notify(server, user)];
    const read = await api(server, "POST", `/v1/me/notifications/${encodeURIComponent(ns[0].id)}/read`, undefined, { auth: jwt });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { notificationId: ns[0].id, success: true });
    assert.deepEqual((await api(server, "GET", "/v1/me/unread-count", undefined, { auth: jwt })).body, { unreadCount: 2, unseenCount: 3 });
    const page = await api(server, "GET", "/v1/me/notifications?limit=2&unread=true", undefined, { auth: jwt });
    assert.deepEqual(page.body.notifications.map((n) => n.id), [ns[2].id, ns[1].id]);
    const del = await api(server, "DELETE", `/v1/me/notifications/${encodeURIComponent(ns[2].id)}`, undefined, { auth: jwt });
    assert.equal(del.status, 204);
    assert.deepEqual((await api(server, "POST", "/v1/me/notifications/read-all", undefined, { auth: jwt })).body, { updated: 1 });
    assert.deepEqual((await listAll(server, jwt)).map((n) => [n.id, n.status]), [[ns[1].id, "read"], [ns[0].id, "read"]]);
  });

  // CORS_ORIGIN defaults to the seed's two dev origins, with credentials.
  it("CORS: the seed's origins are allowed with credentials, others are refused", async (t) => {
    for (const origin of ["http://localhost:3000", "http://localhost:5173"]) {
      const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), origin);
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      await res.text();
    }
    const evil = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "http://evil.example" } });
    assert.equal(evil.headers.get("access-control-allow-origin"), null);
    assert.ok(evil.status >= 400, `another origin: ${evil.status}`);
    await evil.text();

    // And the real client, sending the browser's Origin header.
    const user = uid("cors");
    const ok = await connect(t, server, POLLING, token(user), { extraHeaders: { origin: "http://localhost:5173" } });
    assert.equal(ok.hello.userId, user);
  });
});
