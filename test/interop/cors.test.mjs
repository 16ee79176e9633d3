// CORS: the server allows only ALLOWED_ORIGIN, with credentials. Raw
// requests check the headers a browser relies on; the client checks that it
// connects from the allowed origin and is refused from another one.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ALLOWED_ORIGIN, MODES, SERVER_URL, TOKEN, UTF8, ack, connected, once, socket } from "./harness.mjs";

const OTHER_ORIGIN = "http://evil.example";
const endpoint = (query) => `${SERVER_URL}/socket.io/?EIO=4&transport=polling${query}`;

// assertAllowed checks the CORS headers of a response to origin.
function assertAllowed(res, origin) {
  assert.equal(res.headers.get("access-control-allow-origin"), origin);
  assert.equal(res.headers.get("access-control-allow-credentials"), "true");
}

function assertRefused(res) {
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  assert.equal(res.headers.get("access-control-allow-credentials"), null);
}

// handshake opens a polling session with origin and returns its sid.
async function handshake(origin) {
  const res = await fetch(endpoint(""), { headers: { origin } });
  assert.equal(res.status, 200);
  assertAllowed(res, origin);
  const body = await res.text();
  assert.equal(body[0], "0", `open packet, got ${body}`);
  return JSON.parse(body.slice(1)).sid;
}

describe("CORS over polling, raw HTTP", () => {
  it("answers an allowed preflight with the origin and credentials", async () => {
    const res = await fetch(endpoint(""), {
      method: "OPTIONS",
      headers: {
        origin: ALLOWED_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
    assertAllowed(res, ALLOWED_ORIGIN);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /content-type/i);
  });

  it("refuses the preflight of another origin", async () => {
    const res = await fetch(endpoint(""), {
      method: "OPTIONS",
      headers: { origin: OTHER_ORIGIN, "access-control-request-method": "POST" },
    });
    assertRefused(res);
  });

  it("sends the CORS headers on handshake, POST and GET of an allowed origin", async () => {
    const sid = await handshake(ALLOWED_ORIGIN);
    const post = await fetch(endpoint(`&sid=${sid}`), {
      method: "POST",
      headers: { origin: ALLOWED_ORIGIN, "content-type": "text/plain;charset=UTF-8" },
      body: `40${JSON.stringify({ token: TOKEN })}`,
    });
    assert.equal(post.status, 200);
    assertAllowed(post, ALLOWED_ORIGIN);
    assert.equal(await post.text(), "ok");
    const get = await fetch(endpoint(`&sid=${sid}`), { headers: { origin: ALLOWED_ORIGIN } });
    assert.equal(get.status, 200);
    assertAllowed(get, ALLOWED_ORIGIN);
    // The CONNECT reply, maybe after a ping (the server pings every 300ms).
    const packets = (await get.text()).split("\x1e");
    assert.ok(packets.some((p) => /^40\{"sid":"[^"]+"\}$/.test(p)), `no CONNECT reply in ${JSON.stringify(packets)}`);
    // Close the session.
    await fetch(endpoint(`&sid=${sid}`), { method: "POST", headers: { origin: ALLOWED_ORIGIN }, body: "1" });
  });

  it("refuses the handshake and the requests of another origin", async () => {
    assertRefused(await fetch(endpoint(""), { headers: { origin: OTHER_ORIGIN } }));
    const sid = await handshake(ALLOWED_ORIGIN);
    assertRefused(await fetch(endpoint(`&sid=${sid}`), { method: "POST", headers: { origin: OTHER_ORIGIN }, body: "40" }));
    assertRefused(await fetch(endpoint(`&sid=${sid}`), { headers: { origin: OTHER_ORIGIN } }));
    await fetch(endpoint(`&sid=${sid}`), { method: "POST", headers: { origin: ALLOWED_ORIGIN }, body: "1" });
  });
});

for (const mode of MODES) {
  describe(`CORS with the client, ${mode.name}`, { timeout: 20000 }, () => {
    it("connects from the allowed origin", async (t) => {
      const s = await connected(socket(t, mode, "/", { extraHeaders: { origin: ALLOWED_ORIGIN }, withCredentials: true }), mode);
      assert.deepEqual(await ack(s, "echo", UTF8), [UTF8]);
    });

    it("gets connect_error from another origin", async (t) => {
      const s = socket(t, mode, "/", { extraHeaders: { origin: OTHER_ORIGIN }, withCredentials: true });
      const [err] = await once(s, "connect_error");
      // The transport's error: "xhr poll error" or "websocket error".
      assert.match(err.message, /xhr poll error|websocket error/);
      assert.equal(s.connected, false);
    });
  });
}
