import { describe, expect, it } from "vitest";
import { createCa, caDigest, hashJoinSecret, newJoinToken, parseJoinToken, secretMatches } from "./index.js";

describe("join tokens", () => {
  it("are RUCHE-1-<CA digest, 50 base-36>-<secret, 25 base-36>, and parse back to the CA's digest", async () => {
    const ca = await createCa({ region: "global" });
    const digest = caDigest(ca.certPem);
    const { token, secretHash } = newJoinToken(digest);
    expect(token).toMatch(/^RUCHE-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const parsed = parseJoinToken(token);
    expect(parsed.caDigest).toBe(digest);
    expect(hashJoinSecret(parsed.secret)).toBe(secretHash);
    expect(secretHash).not.toContain(parsed.secret);
    expect(secretMatches(secretHash, parsed.secret)).toBe(true);
    expect(secretMatches(secretHash, parsed.secret.replace(/.$/, (c) => (c === "0" ? "1" : "0")))).toBe(false);
    // Two tokens never share a secret.
    expect(parseJoinToken(newJoinToken(digest).token).secret).not.toBe(parsed.secret);
  });

  it("a digest with leading zeros keeps its width both ways", () => {
    const digest = `0000${"ab".repeat(30)}`;
    const { token } = newJoinToken(digest);
    expect(token.split("-")[2]).toHaveLength(50);
    expect(parseJoinToken(token).caDigest).toBe(digest);
  });

  it("refuses what is not a token, saying why, without echoing it", () => {
    const secretish = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";
    expect(() => parseJoinToken(secretish)).toThrow(/does not start with RUCHE-1-/);
    try {
      parseJoinToken(secretish);
    } catch (err) {
      expect((err as Error).message).not.toContain("1awxwuwd3z9j1z3puu7rcgdbx");
    }
    expect(() => parseJoinToken(`RUCHE-1-${"a".repeat(49)}-${"b".repeat(25)}`)).toThrow(/CA digest is not 50/);
    expect(() => parseJoinToken(`RUCHE-1-${"a".repeat(50)}-${"b".repeat(24)}`)).toThrow(/secret is not 25/);
    expect(() => parseJoinToken(`RUCHE-1-${"z".repeat(50)}-${"b".repeat(25)}`)).toThrow(/over 256 bits/);
    expect(() => parseJoinToken(42)).toThrow(/not a join token/);
  });
});
