// Browser tests: Debian's chromium, driven by playwright-core, opens the
// demo app (web/dist, the build herald embeds) against a real `herald
// serve` and checks what a person would see. TestBrowser
// (cmd/herald/browser_test.go) builds herald and runs this file with
// HERALD_BIN set and BROWSER_OUTPUT naming where screenshots go.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startHerald, token, uid, notify, api, delay } from "../e2e/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const DIST = join(here, "../../web/dist");
const OUTPUT = process.env.BROWSER_OUTPUT || join(here, "output");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Deadline of every wait for something to show on a page.
const SHOW_MS = 15000;

// ---------------------------------------------------------------- setup

// serveDist serves web/dist on a free loopback port: the app on an origin
// of its own, as a team's frontend would be.
async function serveDist() {
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };
  const srv = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(DIST, path === "/" ? "index.html" : path);
    if (!file.startsWith(DIST) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
}

// freePort finds a port for herald, whose own origin must be in CORS_ORIGIN
// before it starts (for the page it serves itself).
async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

let browser, app, outsider, herald;

before(async () => {
  mkdirSync(OUTPUT, { recursive: true });
  [app, outsider] = await Promise.all([serveDist(), serveDist()]);
  const port = await freePort();
  herald = await startHerald({
    port,
    flags: ["--dev", "--ping-interval", "1s", "--ping-timeout", "2s"],
    env: { CORS_ORIGIN: `${app.url},http://127.0.0.1:${port}` },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives every launch a fresh, empty --user-data-dir.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all([app?.close(), outsider?.close()]);
});

// open opens the app for user in a new browser context (a separate
// "device") and waits until its panel is connected. Options: origin (the
// app's server), query (more URL parameters), connected (false: do not wait).
async function open(user, { origin = app.url, query = "", connected = true, jwt = token(user) } = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && page.errors.push(m.text()));
  await page.goto(`${origin}/?server=${encodeURIComponent(herald.url)}${query}#token=${jwt}`);
  if (connected) await waitText(page, "connection", "connected");
  return { context, page, jwt };
}

const byId = (page, id) => page.getByTestId(id);

async function waitText(page, testId, want) {
  await byId(page, testId).filter({ hasText: new RegExp(`^${want}$`) }).waitFor({ timeout: SHOW_MS });
}

// titles returns the titles of the panel's list, top (newest) first.
function titles(page) {
  return page.$$eval('[data-testid="notification"] .MuiListItemText-primary', (els) => els.map((e) => e.textContent));
}

// seedBellCount reads the count on the seed's NotificationBell badge; 0
// when MUI hides the badge.
function seedBellCount(page) {
  return page.$eval('[data-testid="seed-bell"] .MuiBadge-badge', (el) => (el.classList.contains("MuiBadge-invisible") ? 0 : Number(el.textContent)));
}

function panelCount(page) {
  return page.$eval('[data-testid="unread-count"]', (el) => Number(el.dataset.count));
}

// until polls fn (which may throw) until it returns true.
async function until(what, fn, ms = SHOW_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms: ${what}${last ? ` (${last.message})` : ""}`);
    await delay(50);
  }
}

// ---------------------------------------------------------------- tests

describe("one user, two devices", () => {
  const user = uid("ana");
  const other = uid("bob");
  let a, b, c;

  before(async () => {
    [a, b, c] = await Promise.all([open(user), open(user), open(other)]);
  });
  after(async () => Promise.all([a, b, c].map((x) => x?.context.close())));

  test("both show the same notification and badge", async () => {
    await notify(herald, user, { title: "Order shipped", message: "It is on its way" });
    for (const [name, x] of [["a", a], ["b", b]]) {
      await until(`${name} lists it`, async () => (await titles(x.page)).join() === "Order shipped");
      await until(`${name} panel count 1`, async () => (await panelCount(x.page)) === 1);
      await until(`${name} seed bell 1`, async () => (await seedBellCount(x.page)) === 1);
    }
  });

  test("mark read in one updates the other", async () => {
    await byId(a.page, "mark-read").first().click();
    await until("b shows it read", async () => (await b.page.getAttribute('[data-testid="notification"]', "data-status")) === "read");
    await until("b panel count 0", async () => (await panelCount(b.page)) === 0);
    await until("b seed bell 0", async () => (await seedBellCount(b.page)) === 0);
    assert.equal(await a.page.getAttribute('[data-testid="notification"]', "data-status"), "read");
  });

  test("delete in one removes it from the other", async () => {
    await notify(herald, user, { title: "To delete" });
    await until("b lists it", async () => (await titles(b.page)).includes("To delete"));
    await a.page.locator('[data-testid="notification"]', { hasText: "To delete" }).getByTestId("delete").click();
    await until("gone on b", async () => !(await titles(b.page)).includes("To delete"));
    assert.deepEqual(await titles(a.page), ["Order shipped"]);
  });

  test("mark all read in one clears the other", async () => {
    await notify(herald, user, { title: "x1" });
    await notify(herald, user, { title: "x2" });
    await until("b count 2", async () => (await panelCount(b.page)) === 2);
    await byId(a.page, "mark-all-read").click();
    await until("b count 0", async () => (await panelCount(b.page)) === 0 && (await seedBellCount(b.page)) === 0);
    await until("b all read", async () => (await b.page.$$eval('[data-testid="notification"]', (els) => els.every((e) => e.dataset.status === "read"))));
  });

  test("another user sees nothing", async () => {
    // A notification of the other user's own, sent last, proves c is live:
    // once it shows, everything sent to ana before it would have shown too.
    await notify(herald, other, { title: "For bob" });
    await until("c lists its own", async () => (await titles(c.page)).join() === "For bob");
    assert.equal(await panelCount(c.page), 1);
    assert.equal(await seedBellCount(c.page), 1);
    assert.deepEqual(a.page.errors.concat(b.page.errors, c.page.errors), []);
  });
});

test("a device offline while 5 notifications are created shows all 5 once, in order, back online", async (t) => {
  const user = uid("off");
  const x = await open(user);
  t.after(() => x.context.close());
  await x.context.setOffline(true);
  await waitText(x.page, "connection", "disconnected");
  const sent = [];
  for (let i = 1; i <= 5; i++) sent.push(await notify(herald, user, { title: `missed ${i}` }));
  await delay(300);
  assert.deepEqual(await titles(x.page), [], "nothing arrives while offline");
  await x.context.setOffline(false);
  await waitText(x.page, "connection", "connected");
  await until("all 5 listed", async () => (await titles(x.page)).length >= 5);
  // Replay and the reloaded first page both carried them: each shows once.
  await delay(500);
  assert.deepEqual(await titles(x.page), ["missed 5", "missed 4", "missed 3", "missed 2", "missed 1"]);
  const seqs = await x.page.$$eval('[data-testid="notification"]', (els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, sent.map((n) => n.seq).reverse());
  await until("count 5", async () => (await panelCount(x.page)) === 5);
});

test("infinite scroll pages through notification:list", async (t) => {
  const user = uid("scroll");
  const res = await api(herald, "POST", "/v1/notifications", { userIds: [user], type: "info", title: "first", message: "" });
  assert.equal(res.status, 201);
  for (let i = 2; i <= 45; i++) await notify(herald, user, { title: `n${i}` });
  const x = await open(user);
  t.after(() => x.context.close());
  // The panel's pages are 20; scrolling to the end of the list loads the next ones.
  await until("first page", async () => (await titles(x.page)).length === 20);
  for (const want of [40, 45]) {
    await x.page.getByTestId("list-end").scrollIntoViewIfNeeded();
    await until(`${want} listed`, async () => (await titles(x.page)).length === want);
  }
  await x.page.getByTestId("list-complete").waitFor({ timeout: SHOW_MS });
  const seqs = await x.page.$$eval('[data-testid="notification"]', (els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 45 }, (_, i) => 45 - i));
  assert.equal((await titles(x.page)).at(-1), "first");
});

test("polling only, cross-origin with credentials, and the user API from the page", async (t) => {
  const user = uid("poll");
  const x = await open(user, { query: "&transports=polling", connected: false });
  t.after(() => x.context.close());
  const polls = [];
  x.page.on("response", (r) => r.url().includes("/socket.io/") && r.url().includes("transport=polling") && polls.push(r));
  await waitText(x.page, "connection", "connected");
  await notify(herald, user, { title: "over polling" });
  await until("listed", async () => (await titles(x.page)).join() === "over polling");
  assert.ok(polls.length > 0, "polling requests were made");
  const h = await polls[polls.length - 1].allHeaders();
  assert.equal(h["access-control-allow-origin"], app.url);
  assert.equal(h["access-control-allow-credentials"], "true");
  // The seed's hook starts on websocket, so every polling request is the panel's.
  // The user API answers the page: a preflighted fetch with Authorization.
  const res = await x.page.evaluate(
    async ([url, jwt]) => {
      const r = await fetch(`${url}/v1/me/unread-count`, { headers: { Authorization: `Bearer ${jwt}` }, credentials: "include" });
      return { status: r.status, body: await r.json() };
    },
    [herald.url, x.jwt],
  );
  assert.equal(res.status, 200);
  assert.equal(res.body.unreadCount, 1);
});

test("a page on an origin outside CORS_ORIGIN is refused", async (t) => {
  const user = uid("evil");
  await notify(herald, user, { title: "secret" });
  const x = await open(user, { origin: outsider.url, connected: false });
  t.after(() => x.context.close());
  await waitText(x.page, "connection", "disconnected");
  await delay(500);
  assert.deepEqual(await titles(x.page), []);
  assert.equal(await seedBellCount(x.page), 0);
  const res = await x.page.evaluate(
    async ([url, jwt]) => {
      try {
        const r = await fetch(`${url}/v1/me/unread-count`, { headers: { Authorization: `Bearer ${jwt}` } });
        return `status ${r.status}`;
      } catch (e) {
        return `refused: ${e.name}`;
      }
    },
    [herald.url, x.jwt],
  );
  assert.equal(res, "refused: TypeError");
});

test("the seed's useSocket and NotificationBell show the right count", async (t) => {
  const user = uid("seed");
  for (let i = 0; i < 3; i++) await notify(herald, user, { title: `before ${i}` });
  const x = await open(user);
  t.after(() => x.context.close());
  // herald sends notification:unread_count right after authenticated.
  await until("bell 3", async () => (await seedBellCount(x.page)) === 3);
  await notify(herald, user, { title: "live" });
  await until("bell 4", async () => (await seedBellCount(x.page)) === 4);
  // The bell is MUI's IconButton colored primary while the seed's hook is connected.
  assert.match(await x.page.getAttribute('[data-testid="seed-bell"] button', "class"), /MuiIconButton-colorPrimary/);
  await x.page.getByTestId("seed-bell").screenshot({ path: join(OUTPUT, "bell.png") });
  await x.page.screenshot({ path: join(OUTPUT, "page.png") });
});

test("herald serve --dev serves the app itself, with the dev user and the test form", async (t) => {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(herald.url + "/");
  await waitText(page, "connection", "connected");
  await page.getByTestId("dev-title").fill("From the form");
  await page.getByTestId("dev-send").click();
  await until("listed", async () => (await titles(page)).join() === "From the form");
  await until("bell 1", async () => (await seedBellCount(page)) >= 1);
  const res = await api(herald, "GET", "/v1/me/notifications", undefined, { auth: (await (await fetch(herald.url + "/dev/session")).json()).token });
  assert.equal(res.body.notifications[0].title, "From the form");
  await page.screenshot({ path: join(OUTPUT, "dev.png") });
});
