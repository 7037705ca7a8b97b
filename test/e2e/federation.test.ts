/**
 * Regions that find each other: two single-server regions, `europe` (datacenter
 * europe-west1) and `us` (us-west-2), each its own agent process with TLS and ACLs off,
 * europe started with `-retry-join-wan` naming us's API. Both list both regions; `ruche server
 * members` lists both servers; a third region `asia` joined to us only (`ruche server join`)
 * is known to europe; us killed is `failed` on europe's list, and `alive` again once
 * started anew on its address and data dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, ruche, startAgentProcess, until } from "./harness.js";

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;
let asia: AgentProcess | undefined;

function regionArgs(name: string, region: string, dc: string, httpPort = "0"): string[] {
  return [...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-http-port", httpPort, "-consul-port", "0", "-dns-port", "-1", "-region", region, "-datacenter", dc, "-node", name, "-data-dir", join(dir, name)];
}

async function get<T>(address: string, path: string): Promise<T> {
  const res = await fetch(`http://${address}${path}`);
  if (!res.ok) throw new Error(`GET ${path} on ${address}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Member {
  Name: string;
  Status: string;
  Tags: Record<string, string>;
}

/** The members europe lists, by name, with their status. */
async function statuses(a: AgentProcess): Promise<Record<string, string>> {
  const m = await get<{ Members: Member[] }>(a.address, "/v1/agent/members");
  return Object.fromEntries(m.Members.map((x) => [x.Name, x.Status]));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-federation-e2e-"));
  us = await startAgentProcess(regionArgs("us1", "us", "us-west-2"));
  europe = await startAgentProcess([...regionArgs("eu1", "europe", "europe-west1"), "-retry-join-wan", us.address]);
}, 60_000);

afterAll(async () => {
  for (const a of [asia, europe, us]) await a?.stop(10_000);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("two regions joined with -retry-join-wan", () => {
  it("/v1/regions on each lists both", async () => {
    const eu = europe as AgentProcess;
    const u = us as AgentProcess;
    await until("europe knows us", async () => ((await get<string[]>(eu.address, "/v1/regions")).includes("us") ? true : undefined), 20_000);
    expect(await get<string[]>(eu.address, "/v1/regions")).toEqual(["europe", "us"]);
    // us learnt of europe from europe's own probe: it was given nothing to join.
    await until("us knows europe", async () => ((await get<string[]>(u.address, "/v1/regions")).includes("europe") ? true : undefined), 20_000);
    expect(await get<string[]>(u.address, "/v1/regions")).toEqual(["europe", "us"]);
  });

  it("/v1/agent/members lists every region's servers as name.region with their region and datacenter; ruche server members shows them", async () => {
    const eu = europe as AgentProcess;
    const m = await get<{ ServerRegion: string; Members: Member[] }>(eu.address, "/v1/agent/members");
    expect(m.ServerRegion).toBe("europe");
    const byName = Object.fromEntries(m.Members.map((x) => [x.Name, x]));
    expect(byName["eu1.europe"]?.Tags).toMatchObject({ region: "europe", dc: "europe-west1" });
    expect(byName["us1.us"]?.Tags).toMatchObject({ region: "us", dc: "us-west-2" });
    expect(byName["us1.us"]?.Status).toBe("alive");

    const r = await ruche(eu.address, dir, "server", "members");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Name +Address +Port +Status +Leader +Etcd Member +Build +Datacenter +Region$/);
    expect(lines.slice(1).find((l) => l.startsWith("eu1.europe "))).toMatch(/^eu1\.europe +127\.0\.0\.1 +\d+ +alive +true +.*europe-west1 +europe$/);
    expect(lines.slice(1).find((l) => l.startsWith("us1.us "))).toMatch(/^us1\.us +127\.0\.0\.1 +\d+ +alive +(true|false) +.*us-west-2 +us$/);
  });

  it("Consul's view: the WAN members as name.dc, the datacenters this one first", async () => {
    const eu = europe as AgentProcess;
    const wan = await get<{ Name: string; Status: number; Tags: Record<string, string> }[]>(eu.consulAddress, "/v1/agent/members?wan=1");
    expect(wan.map((w) => [w.Name, w.Status, w.Tags.dc]).sort()).toEqual([
      ["eu1.europe-west1", 1, "europe-west1"],
      ["us1.us-west-2", 1, "us-west-2"],
    ]);
    expect(await get<string[]>(eu.consulAddress, "/v1/catalog/datacenters")).toEqual(["europe-west1", "us-west-2"]);
    const coords = await get<{ Datacenter: string; AreaID: string; Coordinates: { Node: string; Coord: { Vec: number[] } }[] }[]>(eu.consulAddress, "/v1/coordinate/datacenters");
    expect(coords.map((c) => c.Datacenter)).toEqual(["europe-west1", "us-west-2"]);
    expect(coords.find((c) => c.Datacenter === "us-west-2")?.Coordinates.map((c) => c.Node)).toEqual(["us1.us-west-2"]);
  });

  it("a third region joined to us only (ruche server join) is known to europe", async () => {
    const u = us as AgentProcess;
    const eu = europe as AgentProcess;
    asia = await startAgentProcess(regionArgs("ap1", "asia", "asia-east1"));
    const bad = await ruche(asia.address, dir, "server", "join", "127.0.0.1:1");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^Error joining: failed joining: 127\.0\.0\.1:1: /);
    const r = await ruche(asia.address, dir, "server", "join", u.address);
    expect(r).toMatchObject({ code: 0, out: "Joined 1 servers successfully\n" });
    await until("europe knows asia", async () => ((await get<string[]>(eu.address, "/v1/regions")).includes("asia") ? true : undefined), 20_000);
    expect(await get<string[]>(eu.address, "/v1/regions")).toEqual(["asia", "europe", "us"]);
    await until("europe lists ap1 alive", async () => ((await statuses(eu))["ap1.asia"] === "alive" ? true : undefined), 20_000);
  });

  it("us killed is failed on europe's list; started again on its address, alive", async () => {
    const eu = europe as AgentProcess;
    const u = us as AgentProcess;
    const port = u.address.slice(u.address.lastIndexOf(":") + 1);
    await u.crash();
    await until("europe marks us1 failed", async () => ((await statuses(eu))["us1.us"] === "failed" ? true : undefined), 30_000);
    // Kept and shown, with its region, while it is failed.
    expect(await get<string[]>(eu.address, "/v1/regions")).toContain("us");
    us = await startAgentProcess(regionArgs("us1", "us", "us-west-2", port));
    await until("europe marks us1 alive again", async () => ((await statuses(eu))["us1.us"] === "alive" ? true : undefined), 30_000);
    // The restarted us, given nothing to join, learns the others from their probes.
    const again = us;
    await until("us knows every region again", async () => ((await get<string[]>(again.address, "/v1/regions")).length === 3 ? true : undefined), 20_000);
  }, 90_000);
});
