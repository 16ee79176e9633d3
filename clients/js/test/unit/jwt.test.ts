import { describe, expect, it } from "vitest";
import { decodeClaims, refreshDelay } from "../../src/jwt.js";

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims: object) => `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}.sig`;

describe("decodeClaims", () => {
  it("reads the payload of a JWT, UTF-8 included", () => {
    expect(decodeClaims(jwt({ sub: "ü-42", exp: 10 }))).toEqual({ sub: "ü-42", exp: 10 });
  });
  it("gives {} for what is not a JWT", () => {
    expect(decodeClaims("nope")).toEqual({});
    expect(decodeClaims("a.!!!.c")).toEqual({});
    expect(decodeClaims(`a.${Buffer.from("[1]").toString("base64url")}.c`)).toEqual({});
  });
});

describe("refreshDelay", () => {
  it("refreshes leeway before exp", () => {
    expect(refreshDelay({ exp: 1000 }, 500_000, 60_000)).toBe(440_000);
  });
  it("uses at most a quarter of a short token's life as leeway", () => {
    // 8 s token: refresh 2 s before exp.
    expect(refreshDelay({ iat: 100, exp: 108 }, 100_000, 60_000)).toBe(6_000);
  });
  it("is 0 past the refresh point and null without exp", () => {
    expect(refreshDelay({ exp: 10 }, 20_000)).toBe(0);
    expect(refreshDelay({}, 0)).toBeNull();
  });
});
