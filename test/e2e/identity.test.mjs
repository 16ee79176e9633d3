// Identity providers (issue 12): tokens signed with RS256, ES256 and EdDSA
// by keys this file makes, published through a JWKS server of its own on
// loopback that rotates keys mid-test, or given as a PEM file; issuer,
// audience and claim mapping. A JWKS-only server has no JWT_SECRET.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { generateKeyPairSync, randomBytes, sign as cryptoSign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  WEBSOCKET, ack, assertFailure, connect, connectError, nowSec, notify, sign, startHerald, tempFile, uid, waitFor,
} from "./harness.mjs";

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// newKey makes a signing key: "RS256", "ES256" or "EdDSA", with a kid.
function newKey(alg, kid = `${alg}-${randomBytes(4).toString("hex")}`) {
  const { privateKey, publicKey } =
    alg === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" })
    : generateKeyPairSync("ed25519");
  return { alg, kid, privateKey, publicKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig" } };
}

// jwt signs claims with key (kid in the header unless kid: null).
function jwt(key, claims, { kid = key.kid } = {}) {
  const header = { alg: key.alg, typ: "JWT", ...(kid === null ? {} : { kid }) };
  const input = `${b64url(header)}.${b64url(claims)}`;
  const data = Buffer.from(input);
  const sig =
    key.alg === "RS256" ? cryptoSign("sha256", data, key.privateKey)
    : key.alg === "ES256" ? cryptoSign("sha256", data, { key: key.privateKey, dsaEncoding: "ieee-p1363" })
    : cryptoSign(null, data, key.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}

function claimsFor(user, extra = {}) {
  return { sub: user, email: `${user}@example.com`, iat: nowSec(), exp: nowSec() + 3600, ...extra };
}

// startJWKS serves {keys} of the keys it holds on 127.0.0.1 and counts
// fetches; close() stops it.
async function startJWKS(keys) {
  const jwks = { keys, fetches: 0 };
  const srv = createServer((req, res) => {
    jwks.fetches++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: jwks.keys.map((k) => k.jwk) }));
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  jwks.url = `http://127.0.0.1:${srv.address().port}/.well-known/jwks.json`;
  jwks.close = () => {
    srv.closeAllConnections();
    srv.close();
  };
  return jwks;
}

describe("identity providers", { concurrency: true, timeout: 60000 }, () => {
  describe("JWKS", () => {
    let jwks, server;
    const rsa = newKey("RS256"), ec = newKey("ES256"), ed = newKey("EdDSA");
    before(async () => {
      jwks = await startJWKS([rsa, ec, ed]);
      server = await startHerald({
        env: { JWT_SECRET: "", JWT_JWKS_URL: jwks.url },
        // No handshake limit: the flood test below connects at once.
        flags: ["--jwt-jwks-refresh", "1s", "--jwt-jwks-min-refetch", "1s", "--handshake-rate", "0"],
      });
    });
    after(async () => {
      await server.stop();
      jwks.close();
    });

    it("accepts RS256, ES256 and EdDSA tokens of the JWKS, picking the key by kid", async (t) => {
      for (const key of [rsa, ec, ed]) {
        const user = uid(key.alg);
        const s = await connect(t, server, WEBSOCKET, jwt(key, claimsFor(user)));
        assert.equal(s.hello.userId, user, key.alg);
      }
      // The kid of one key on a token signed by another: refused.
      const { err } = await connectError(t, server, WEBSOCKET, { auth: { token: jwt({ ...ec, kid: rsa.kid, alg: "ES256" }, claimsFor(uid())) } });
      assert.deepEqual(err.data, { code: "token_invalid" });
      // No HS256 at all without JWT_SECRET, and no alg none.
      for (const token of [sign(claimsFor(uid())), sign(claimsFor(uid()), { header: { alg: "none" }, signature: "" })]) {
        const { err } = await connectError(t, server, WEBSOCKET, { auth: { token } });
        assert.deepEqual(err.data, { code: "token_invalid" });
      }
      // Expired stays expired.
      const { err: expired } = await connectError(t, server, WEBSOCKET, { auth: { token: jwt(ed, claimsFor(uid(), { exp: nowSec() - 5 })) } });
      assert.deepEqual(expired.data, { code: "token_expired" });
    });

    it("rotation: live sockets stay, the new key's tokens are accepted, the removed key's refused on connect and on auth:refresh", async (t) => {
      const user = uid("rot");
      const old = newKey("ES256");
      jwks.keys = [...jwks.keys, old];
      // The unknown kid makes herald fetch the set again (once a second at most).
      const live = await waitFor(() => connect(t, server, WEBSOCKET, jwt(old, claimsFor(user))), 8000, 200);

      const fresh = newKey("RS256");
      jwks.keys = jwks.keys.filter((k) => k !== old).concat(fresh);
      // The new key: accepted as soon as herald may fetch again.
      const s2 = await waitFor(() => connect(t, server, WEBSOCKET, jwt(fresh, claimsFor(user))), 8000, 200);
      assert.equal(s2.hello.userId, user);
      // The removed key: refused on new connections once the set was refreshed.
      await waitFor(async () => {
        const { err } = await connectError(t, server, WEBSOCKET, { auth: { token: jwt(old, claimsFor(user)) } });
        assert.deepEqual(err.data, { code: "token_invalid" });
      }, 8000, 200);
      // ... and on auth:refresh of the live socket, which still works otherwise.
      assertFailure(await ack(live, "auth:refresh", { token: jwt(old, claimsFor(user)) }), "token_invalid");
      assert.deepEqual(await ack(live, "auth:refresh", { token: jwt(fresh, claimsFor(user)) }), { success: true });
      assert.equal(live.connected, true, "the socket of the removed key stays connected");
      const n = await notify(server, user);
      for (const s of [live, s2]) {
        assert.equal((await s.inbox.take("notification:new", { where: (d) => d.notification.id === n.id })).notification.id, n.id);
      }
    });

    it("a flood of made-up kids causes no refetch storm", async (t) => {
      const start = Date.now();
      const before = jwks.fetches;
      const N = 30;
      const refusals = await Promise.all(Array.from({ length: N }, () =>
        connectError(t, server, WEBSOCKET, { auth: { token: jwt({ ...ed, kid: "made-up-" + randomBytes(6).toString("hex") }, claimsFor(uid())) } })));
      for (const { err } of refusals) assert.deepEqual(err.data, { code: "token_invalid" });
      const seconds = (Date.now() - start) / 1000;
      const fetches = jwks.fetches - before;
      // At most one fetch per --jwt-jwks-min-refetch (1s), plus the one under way.
      assert.ok(fetches <= Math.ceil(seconds) + 1, `${fetches} fetches for ${N} made-up kids in ${seconds}s`);
    });
  });

  it("PEM file, issuer, audience and claim mapping", async (t) => {
    const key = newKey("EdDSA");
    const rsa = newKey("RS256");
    const pemFile = tempFile(".pem");
    writeFileSync(pemFile, key.publicKey.export({ type: "spki", format: "pem" }) + rsa.publicKey.export({ type: "spki", format: "pem" }));
    const server = await startHerald({
      env: { JWT_PUBLIC_KEY_FILE: pemFile, JWT_ISSUER: "https://idp.example/", JWT_AUDIENCE: "herald" },
      flags: ["--claim-user", "uid", "--claim-tenant", "https://app.example/org"],
    });
    t.after(() => server.stop());
    const user = uid("pem");
    const good = { uid: user, "https://app.example/org": "acme", iss: "https://idp.example/", aud: ["web", "herald"], exp: nowSec() + 3600 };
    for (const k of [key, rsa]) {
      const s = await connect(t, server, WEBSOCKET, jwt(k, good, { kid: null }));
      assert.equal(s.hello.userId, user);
    }
    // The tenant claim is used: a notification for acme reaches the socket.
    const s = await connect(t, server, WEBSOCKET, jwt(key, good, { kid: "any" }));
    const n = await notify(server, user, { tenantId: "acme" });
    assert.equal((await s.inbox.take("notification:new")).notification.id, n.id);
    // JWT_SECRET is still set: its HS256 tokens verify too.
    assert.equal((await connect(t, server, WEBSOCKET, sign(good))).hello.userId, user);
    const bad = {
      "wrong issuer": jwt(key, { ...good, iss: "https://evil.example/" }),
      "wrong audience": jwt(key, { ...good, aud: "other" }),
      "no uid (sub is not the user claim here)": jwt(key, { ...good, uid: undefined, sub: user }),
      "key confusion: HS256 with the PEM as the secret": sign(good, { secret: key.publicKey.export({ type: "spki", format: "pem" }) }),
      "unknown crit header": jwt(key, good, { kid: null }).replace(/^[^.]+/, b64url({ alg: "EdDSA", crit: ["exp"] })),
    };
    for (const [name, token] of Object.entries(bad)) {
      const { err } = await connectError(t, server, WEBSOCKET, { auth: { token } });
      assert.deepEqual(err.data, { code: "token_invalid" }, name);
    }
  });
});
