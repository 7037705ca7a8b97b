import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { ClusterCa, createCa, createKeyAndCsr, type Ca } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

let store: StateStore;
let http: RunningHttp;
let ca: Ca;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  ca = await createCa({ region: "global" });
  http = await startApi(new Server(store), store, { host: "127.0.0.1", port: 0, log: silentLogger, pki: { region: "global", ca: () => ca } });
});

afterAll(async () => {
  await http.close();
  await store.close();
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd: "/" };
  const code = await runCli([...argv, "-address", http.address], io);
  return { code, out, err };
}

async function joins(token: string, role: "client" | "server"): Promise<number> {
  const { csrPem } = await createKeyAndCsr({ region: "global", role, name: "n1" });
  const res = await fetch(`http://${http.address}/v1/agent/join`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ Token: token, CSR: csrPem, Role: role, Name: "n1" }) });
  return res.status;
}

describe("ruche join-token", () => {
  it("create prints the token once with the command a node runs; list shows no secret; revoke stops it", async () => {
    const made = await cli("join-token", "create");
    expect(made.code).toBe(0);
    const token = /ruche agent -client -servers 127\.0\.0\.1:\d+ -join-token (RUCHE-1-[0-9a-z]{50}-[0-9a-z]{25})\n/.exec(made.out)?.[1];
    expect(token).toBeDefined();
    const id = /Token ID ([0-9a-f-]{36})\./.exec(made.out)?.[1] ?? "";
    expect(await joins(token!, "client")).toBe(200);

    const listed = await cli("join-token", "list");
    expect(listed.out).toMatch(new RegExp(`${id}\\s+client\\s+\\S+\\s+active`));
    expect(listed.out).not.toContain(token!.split("-")[3]);

    expect((await cli("join-token", "revoke", id)).out).toBe(`Join token ${id} revoked\n`);
    expect(await joins(token!, "client")).toBe(403);
    expect((await cli("join-token", "list")).out).toMatch(new RegExp(`${id}\\s+client\\s+\\S+\\s+revoked `));
  });

  it("rotate -role server replaces the server tokens; -quiet prints the token alone", async () => {
    const first = (await cli("join-token", "create", "-role", "server", "-quiet")).out.trim();
    expect(first).toMatch(/^RUCHE-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const rotated = await cli("join-token", "rotate", "-role", "server");
    expect(rotated.out).toMatch(/^Rotated the server join token/);
    expect(rotated.out).toMatch(/ruche agent -server -servers/);
    const second = /-join-token (RUCHE-1-\S+)/.exec(rotated.out)?.[1] ?? "";
    expect(await joins(first, "server")).toBe(403);
    expect(await joins(second, "server")).toBe(200);
  });

  it("refuses a role it does not know", async () => {
    const bad = await cli("join-token", "create", "-role", "manager");
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/-role must be "client" or "server", got "manager"/);
  });
});

describe("ruche operator tls ca", () => {
  it("shows the CA, rotates it (both roots trusted) and finishes the rotation", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ruche-cli-ca-"));
    const s = await StateStore.open(memoryBackend());
    const { ca: cluster } = await ClusterCa.open(dir, "global");
    const h = await startApi(new Server(s), s, {
      host: "127.0.0.1",
      port: 0,
      log: silentLogger,
      pki: cluster,
    });
    const run = async (...argv: string[]): Promise<string> => {
      let out = "";
      const io: IO = { out: (t) => (out += t), err: (t) => (out += t), env: {}, cwd: "/" };
      expect(await runCli([...argv, "-address", h.address], io)).toBe(0);
      return out;
    };
    try {
      const before = cluster.digest();
      expect(await run("operator", "tls", "ca")).toMatch(new RegExp(`CA digest \\(sha256\\) += ${before}\\n.*\\nRotation under way += false`));
      const rotated = await run("operator", "tls", "ca", "rotate");
      expect(rotated).toMatch(/^Rotated the cluster CA/);
      expect(rotated).toContain(`Trusted roots      = ${cluster.digest()}, ${before}`);
      expect(rotated).toMatch(/Rotation under way += true/);
      expect(await run("operator", "tls", "ca", "finish")).toMatch(/Rotation under way += false/);
    } finally {
      await h.close();
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
