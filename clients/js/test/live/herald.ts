// A real `herald serve` for the live tests: HERALD_BIN on a free loopback
// port with a temp SQLite file, stopped (SIGTERM, then SIGKILL) after.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const JWT_SECRET = "live-jwt-" + randomBytes(8).toString("hex");
export const API_KEY = "live-key-" + randomBytes(8).toString("hex");

export interface Herald {
  url: string;
  stop(): Promise<void>;
}

export async function startHerald(): Promise<Herald> {
  const bin = process.env.HERALD_BIN;
  if (!bin) throw new Error('HERALD_BIN is not set: run these tests through "go test -run ClientJS ./cmd/herald/"');
  const dir = mkdtempSync(join(tmpdir(), "herald-live-"));
  const proc: ChildProcess = spawn(bin, ["serve", "--db", join(dir, "h.db"), "--ping-interval", "1s", "--ping-timeout", "5s", "--shutdown-timeout", "2s"], {
    env: { PATH: process.env.PATH, JWT_SECRET, HERALD_API_KEY: API_KEY, HOST: "127.0.0.1", PORT: "0", GORACE: "atexit_sleep_ms=0" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const kill = () => proc.kill("SIGKILL");
  process.on("exit", kill);
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald did not listen within 10s:\n${log}`)), 10_000);
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (c: string) => {
      log += c;
      const m = /"msg":"herald listening","addr":"([^"]+)"/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
    proc.on("exit", (code) => reject(new Error(`herald exited (${code}):\n${log}`)));
  });
  return {
    url,
    async stop() {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const t = setTimeout(kill, 5000);
      await exited;
      clearTimeout(t);
      process.off("exit", kill);
      rmSync(dir, { recursive: true, force: true });
      if (/panic|DATA RACE/.test(log)) throw new Error(`herald log shows a failure:\n${log}`);
    },
  };
}

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** token mints an HS256 JWT for user, valid ttl seconds. */
export function token(user: string, ttl = 3600, tenant?: string): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { sub: user, email: `${user}@example.com`, role: "user", iat: now, exp: now + ttl };
  if (tenant !== undefined) claims.tenant_id = tenant;
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${input}.${createHmac("sha256", JWT_SECRET).update(input).digest("base64url")}`;
}

let n = 0;
export const uid = (p = "u") => `${p}-${process.pid}-${++n}-${randomBytes(3).toString("hex")}`;

/** until polls fn until it is true, for up to ms. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
