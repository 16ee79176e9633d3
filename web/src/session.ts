// Which herald the page talks to and as whom.
//
// - The herald is ?server=<origin> or, by default, the page's own origin
//   (herald serve --dev serves this page itself); ?transports=polling
//   limits the panel's client to long-polling.
// - The token is #token=<jwt> when given (kept in sessionStorage, so a
//   reload keeps it); otherwise, from a herald in --dev mode, a token of
//   the dev user from GET /dev/session, which only --dev serves, and only
//   to loopback clients.

declare global {
  // Read by the seed's useSocket through import.meta.env.VITE_API_URL (vite.config.ts).
  var __HERALD_URL__: string;
}

const params = new URLSearchParams(location.search);
export const heraldUrl = params.get("server") ?? location.origin;
globalThis.__HERALD_URL__ = heraldUrl;

/** ?transports=polling (comma list) limits the panel's client to those transports. */
export const transports = params.get("transports")?.split(",") as ("polling" | "websocket")[] | undefined;

export interface Session {
  token: string;
  /** True when the token came from herald's dev mode: the page then shows the test form. */
  dev: boolean;
}

/** devSession asks a herald in --dev mode for a token of its dev user; null when it is not in dev mode. */
export async function devSession(): Promise<Session | null> {
  try {
    const res = await fetch(`${heraldUrl}/dev/session`);
    if (!res.ok) return null;
    const body = (await res.json()) as { token?: string };
    return body.token ? { token: body.token, dev: true } : null;
  } catch {
    return null;
  }
}

export async function loadSession(): Promise<Session | null> {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("herald:token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = fromHash ?? sessionStorage.getItem("herald:token");
  // Only a herald that serves this page itself can be in dev mode for it.
  const dev = heraldUrl === location.origin ? await devSession() : null;
  if (token) return { token, dev: dev !== null };
  return dev;
}

/** sendTestNotification asks a --dev herald to notify the signed-in user (POST /dev/notify). */
export async function sendTestNotification(token: string, n: { title: string; message: string; type: string }): Promise<void> {
  const res = await fetch(`${heraldUrl}/dev/notify`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(n),
  });
  if (!res.ok) throw new Error(`dev notify: HTTP ${res.status} ${await res.text()}`);
}
