/**
 * Chaos, bounded in time: for three minutes (RUCHE_CHAOS_SECONDS), one fault after another
 * chosen at random (the seed is printed; RUCHE_CHAOS_SEED replays a run) — `kill -9` of a
 * client agent left down for up to half a minute, SIGSTOP/SIGCONT of a client agent, a
 * client's Docker engine gone or hung for a while, and once a `kill -9` and restart of the server — while
 * a service of 6 busybox httpd containers serves through the router at 50 requests/s and a
 * writer puts keys in the KV store. Afterwards: exactly the 6 desired allocations run, each in
 * one container, and no acknowledged write is lost. Failed requests through the router are
 * printed (the goal is 0) with what failed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { seededRng } from "../../src/scheduler/index.js";
import { Fleet, RouterLoad, routed, webJob, type FleetClient } from "./fleet.js";
import { docker, ruche, until } from "./harness.js";

const SECONDS = Number(process.env.RUCHE_CHAOS_SECONDS ?? "180");
const SEED = Number(process.env.RUCHE_CHAOS_SEED ?? String(Date.now() % 1_000_000));
const JOB = "chaos";
const HOST = "chaos.ruche.test";
const COUNT = 6;

let dir = "";
let fleet: Fleet | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-chaos-e2e-"));
  writeFileSync(join(dir, `${JOB}.hcl`), webJob(JOB, COUNT, HOST));
  fleet = await Fleet.start({ dir, clients: 3 });
}, 120_000);

afterAll(async () => {
  if (fleet !== undefined) {
    await ruche(fleet.serverAddress, dir, "job", "stop", "-detach", JOB).catch(() => undefined);
    await until("the job's containers to go", async () => ((await docker("ps", "-q", "--filter", `label=com.ruche.job_id=${JOB}`)) === "" ? true : undefined), 60_000).catch(() => undefined);
    await fleet.stop();
  }
  const left = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${JOB}`);
  if (left !== "") await docker("rm", "-f", ...left.split("\n"));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** Keys put one after another; those the server acknowledged are remembered. */
class KvWriter {
  readonly acked = new Map<string, string>();
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly address: () => string) {}

  start(): void {
    this.done = (async () => {
      for (let i = 0; !this.stopped; i++) {
        const key = `chaos/${String(i)}`;
        try {
          const r = await fetch(`http://${this.address()}/v1/kv/${key}`, { method: "PUT", body: `v${String(i)}`, signal: AbortSignal.timeout(3000) });
          if (r.ok && (await r.text()).trim() === "true") this.acked.set(key, `v${String(i)}`);
        } catch {
          // Not acknowledged: the server is away.
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("chaos", () => {
  it(`heals through ${String(SECONDS)} s of faults: exactly the desired allocations run, no acknowledged write is lost`, async () => {
    const f = fleet as Fleet;
    const api = (): ApiClient => new ApiClient(f.serverAddress);
    const rng = seededRng(String(SEED));
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
    const between = (lo: number, hi: number): number => lo + rng.int(hi - lo);
    const log: string[] = [`seed ${String(SEED)}`];
    const t0 = Date.now();
    const note = (what: string): void => {
      log.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);
    };

    const run = await ruche(f.serverAddress, dir, "job", "run", "-detach", `${JOB}.hcl`);
    expect(run.code, run.err).toBe(0);
    await until(`${String(COUNT)} running allocations`, async () => ((await api().jobAllocations(JOB)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running").length === COUNT ? true : undefined), 90_000);
    await routed(f.router.routerAddress, HOST);

    const load = new RouterLoad(f.router.routerAddress, HOST, 50);
    const kv = new KvWriter(() => f.serverAddress);
    load.start();
    kv.start();

    let serverRestarted = false;
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      const c: FleetClient = pick(f.clients);
      const fault = !serverRestarted && Date.now() > t0 + (SECONDS * 1000) / 2 ? "server" : pick(["kill", "stop", "engine"] as const);
      if (fault === "server") {
        note("kill -9 the server, start it again");
        await f.server.crash();
        await sleep(between(1000, 5000));
        await f.startServer();
        serverRestarted = true;
      } else if (fault === "kill") {
        const down = between(2000, 30_000);
        note(`kill -9 ${c.name}, down ${String(down)} ms`);
        await c.agent?.crash();
        await sleep(down);
        await f.startClient(c);
      } else if (fault === "stop") {
        const ms = between(2000, 15_000);
        note(`SIGSTOP ${c.name} for ${String(ms)} ms`);
        c.agent?.child.kill("SIGSTOP");
        await sleep(ms);
        c.agent?.child.kill("SIGCONT");
      } else {
        const ms = between(5000, 25_000);
        // Gone (connections cut, new ones refused) or hung (connections open and silent).
        const hung = rng.int(2) === 0;
        note(`${c.name}'s Docker engine ${hung ? "hung" : "unreachable"} for ${String(ms)} ms`);
        await (hung ? c.proxy.freeze() : c.proxy.stop());
        await sleep(ms);
        await c.proxy.start();
      }
      await sleep(between(3000, 8000));
    }
    note("faults over");

    // Healed: every node ready, exactly the desired allocations running, one container each.
    const healed = await until("the job to heal", async () => {
      const nodes = (await api().nodes()).body;
      if (nodes.filter((n) => n.Status === "ready").length !== f.clients.length) return undefined;
      const running = (await api().jobAllocations(JOB)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
      const containers = (await docker("ps", "-q", "--filter", `label=com.ruche.job_id=${JOB}`)).split("\n").filter((x) => x !== "");
      const unknown = (await api().jobAllocations(JOB)).body.filter((a) => a.ClientStatus === "unknown" || a.ClientStatus === "pending");
      return running.length === COUNT && containers.length === COUNT && unknown.length === 0 ? { running, containers } : undefined;
    }, 180_000).catch((err: unknown) => {
      console.log(`chaos: ${log.join("\n  ")}`);
      throw err;
    });
    note("healed");
    await routed(f.router.routerAddress, HOST);
    await load.stop();
    await kv.stop();

    expect(new Set(healed.running.map((a) => a.Name)).size).toBe(COUNT);
    const got = (await (await fetch(`http://${f.serverAddress}/v1/kv/chaos/?recurse`)).json()) as { Key: string; Value: string }[];
    const stored = new Map(got.map((e) => [e.Key, Buffer.from(e.Value, "base64").toString()]));
    const lost = [...kv.acked].filter(([k, v]) => stored.get(k) !== v).map(([k]) => k);
    const summary = load.summary();
    console.log(`chaos: ${log.join("\n  ")}\n  router: ${JSON.stringify(summary)}\n  kv: ${String(kv.acked.size)} acknowledged, ${String(lost.length)} lost`);
    expect(kv.acked.size).toBeGreaterThan(0);
    expect(lost, "acknowledged writes lost").toEqual([]);
    expect(summary.ok).toBeGreaterThan(0);
  }, (SECONDS + 480) * 1000);
});
