/**
 * A real agent process whose data dir is on a small real filesystem (a tmpfs this test
 * mounts: it runs as root): filled up, then given space again; and read-only at start.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { mountSmallFs, type SmallFs } from "../../src/state/testing.js";
import { type AgentProcess, NO_ACL_NO_TLS, root, rucheProgram, startAgentProcess, until } from "./harness.js";

const exec = promisify(execFile);
const agents: AgentProcess[] = [];
const mounts: SmallFs[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const m of mounts.splice(0)) await m.unmount();
});

async function smallFs(): Promise<SmallFs> {
  const fs = await mountSmallFs(4 * 1024 * 1024);
  mounts.push(fs);
  return fs;
}

async function startServer(dataDir: string): Promise<AgentProcess> {
  const agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", dataDir, "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1"]);
  agents.push(agent);
  return agent;
}

/** The agent's log lines (JSON, on stderr) whose message or error mentions `text`. */
function logLines(agent: AgentProcess, text: string): string[] {
  return agent
    .err()
    .split("\n")
    .filter((l) => l.includes(text));
}

describe("an agent whose data dir fills up", () => {
  it("answers writes 507 naming the full data dir, logs it once, takes writes again once there is space, and keeps every acknowledged write over a restart", { timeout: 120_000 }, async () => {
    const fs = await smallFs();
    const dataDir = join(fs.dir, "data");
    let agent = await startServer(dataDir);
    const kv = (method: string, key: string, body?: string): Promise<Response> =>
      fetch(`http://${agent.address}/v1/kv/${key}`, { method, ...(body === undefined ? {} : { body }) });
    const acked = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const res = await kv("PUT", `acked-${i}`, `value ${i}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("true");
      acked.set(`acked-${i}`, `value ${i}`);
    }

    await fs.fill();
    const full = `the data dir's filesystem is full: ${dataDir}`;
    for (let i = 0; i < 3; i++) {
      const res = await kv("PUT", "refused", "x".repeat(200_000));
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status).toBe(507);
      expect(body.error.code).toBe("RUCHE_INSUFFICIENT_STORAGE");
      expect(body.error.message).toContain(full);
    }
    expect((await kv("GET", "refused")).status).toBe(404);

    await fs.unfill();
    const res = await kv("PUT", "after-space", "y".repeat(200_000));
    expect(res.status).toBe(200);
    acked.set("after-space", "y".repeat(200_000));
    // The log says when writes succeed again; every line before it has arrived by then.
    await until("the agent to log that writes succeed again", () => (logLines(agent, "writes succeed again").length > 0 ? true : undefined));
    expect(logLines(agent, full), agent.err()).toHaveLength(1);

    expect(await agent.stop()).toBe(true);
    agent = await startServer(dataDir);
    for (const [key, value] of acked) {
      const got = await kv("GET", `${key}?raw`);
      expect(got.status, key).toBe(200);
      expect(await got.text(), key).toBe(value);
    }
    expect((await kv("GET", "refused")).status).toBe(404);
  });

  it("refuses to start on a read-only data dir, saying so with the path, for the server and the client role", { timeout: 120_000 }, async () => {
    const fs = await smallFs();
    const withState = join(fs.dir, "with-state");
    await startServer(withState);
    for (const a of agents.splice(0)) expect(await a.stop()).toBe(true);
    await mkdir(join(fs.dir, "empty"));
    await fs.readOnly();
    const cases = [
      { dataDir: withState, role: ["-server"] },
      { dataDir: join(fs.dir, "empty"), role: ["-server"] },
      { dataDir: join(fs.dir, "missing"), role: ["-server"] },
      { dataDir: join(fs.dir, "missing"), role: ["-client", "-servers", "127.0.0.1:1"] },
    ];
    for (const { dataDir, role } of cases) {
      const args = [rucheProgram(), "agent", ...role, ...NO_ACL_NO_TLS, "-bind", "127.0.0.1", "-data-dir", dataDir, "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1"];
      const r = await exec(process.execPath, args, { cwd: root, timeout: 60_000 }).then(
        () => ({ failed: false, stderr: "" }),
        (err: unknown) => ({ failed: true, stderr: String((err as { stderr?: unknown }).stderr) }),
      );
      expect(r.failed, `${role.join(" ")} on ${dataDir} started`).toBe(true);
      expect(r.stderr, `${role.join(" ")} on ${dataDir}`).toContain(`the data dir's filesystem is read-only: ${dataDir}`);
      expect(r.stderr).not.toContain("ENOENT");
    }
  });
});
