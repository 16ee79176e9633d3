// Reading (not verifying) the claims of a JWT: the client needs the user
// it is for and when it expires; herald verifies it.

export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  exp?: number;
  iat?: number;
}

/** decodeClaims returns the payload of a JWT, or {} when it is not one. */
export function decodeClaims(token: string): TokenClaims {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)));
    const v = JSON.parse(json);
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

/** DEFAULT_REFRESH_LEEWAY_MS is how long before exp a token is refreshed at most. */
export const DEFAULT_REFRESH_LEEWAY_MS = 60_000;

/**
 * refreshDelay returns how many ms from nowMs to wait before refreshing a
 * token: leewayMs before exp, but never more than a quarter of the token's
 * lifetime (iat to exp) before it, so that short tokens are used for most of
 * their life. null when the token has no exp.
 */
export function refreshDelay(claims: TokenClaims, nowMs: number, leewayMs = DEFAULT_REFRESH_LEEWAY_MS): number | null {
  if (typeof claims.exp !== "number") return null;
  const expMs = claims.exp * 1000;
  let leeway = leewayMs;
  if (typeof claims.iat === "number" && claims.iat < claims.exp) {
    leeway = Math.min(leeway, ((claims.exp - claims.iat) * 1000) / 4);
  }
  return Math.max(0, expMs - leeway - nowMs);
}
