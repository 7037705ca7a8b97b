import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { parseJob } from "../../src/jobspec/index.js";
import type { Job } from "../../src/structs/index.js";
import { type AgentProcess, NO_ACL_NO_TLS, startAgentProcess } from "./harness.js";

/**
 * `kill -9` of a real agent process while clients write to it: after a restart on the same
 * data dir, every write it acknowledged is there.
 */
const agents: AgentProcess[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) await a.crash();
});

async function startAgent(dataDir: string): Promise<AgentProcess> {
  const agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", dataDir, "-http-port", "0", "-consul-port", "0", "-dns-port", "0"]);
  agents.push(agent);
  return agent;
}

async function template(): Promise<Job> {
  const r = await parseJob('job "t" {\n  datacenters = ["dc1"]\n  group "g" {\n    count = 0\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n', { file: "t.hcl" });
  if (!r.ok) throw new Error("bad template");
  return r.job;
}

describe("kill -9 of the server under load", () => {
  it("loses no acknowledged write", { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ruche-crash-"));
    const base = await template();
    const acked = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      const agent = await startAgent(dataDir);
      const api = new ApiClient(agent.address);
      let stop = false;
      const writers = Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const id = `r${round}-w${w}-${i}`;
          try {
            const res = await api.register({ ...base, ID: id, Name: id });
            acked.set(id, res.body.JobModifyIndex);
          } catch {
            return;
          }
        }
      });
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
      const crashed = agent.crash();
      stop = true;
      await Promise.all(writers);
      await crashed;
    }
    expect(acked.size).toBeGreaterThan(30);
    const { address } = await startAgent(dataDir);
    const jobs = new Map((await new ApiClient(address).jobs()).body.map((j) => [j.ID, j.JobModifyIndex]));
    const missing = [...acked.keys()].filter((id) => !jobs.has(id));
    expect(missing).toEqual([]);
    for (const [id, index] of acked) expect(jobs.get(id)).toBe(index);
  });
});
