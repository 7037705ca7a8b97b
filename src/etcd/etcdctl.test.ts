import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { startEtcd, type RunningEtcd } from "./index.js";

/**
 * etcd's own client, etcdctl (Debian's etcd-client, API v3), against Ruche's etcd listener
 * over an in-memory store: what it writes is Ruche's KV (the Consul KV service reads it).
 */
const run = promisify(execFile);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let store: StateStore;
let etcd: RunningEtcd;
let kv: KVService;

async function etcdctl(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "--command-timeout=10s", ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("etcdctl is missing: install Debian's etcd-client (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
}

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  const delays = new LockDelays();
  kv = new KVService(store, { now: Date.now, delays });
  etcd = await startEtcd({ host: "127.0.0.1", port: 0, store, delays, log: silent, memberName: "node-1", clusterName: "global" });
});

afterAll(async () => {
  await etcd.close();
  await store.close();
});

describe("etcdctl (v3) against Ruche's etcd listener", () => {
  it("puts, gets, gets a prefix and deletes; Consul's KV sees the same keys", async () => {
    expect(await etcdctl("put", "app/a", "1")).toBe("OK\n");
    expect(await etcdctl("put", "app/b", "2")).toBe("OK\n");
    expect(await etcdctl("put", "other", "3")).toBe("OK\n");
    expect(await etcdctl("get", "app/a")).toBe("app/a\n1\n");
    expect(await etcdctl("get", "--prefix", "app/")).toBe("app/a\n1\napp/b\n2\n");
    const json = JSON.parse(await etcdctl("get", "app/a", "-w", "json")) as { kvs: { version: number; create_revision: number; mod_revision: number }[] };
    expect(json.kvs[0]?.version).toBe(1);
    await etcdctl("put", "app/a", "1b");
    const again = JSON.parse(await etcdctl("get", "app/a", "-w", "json")) as { kvs: { version: number; create_revision: number; mod_revision: number }[] };
    expect(again.kvs[0]?.version).toBe(2);
    expect(again.kvs[0]?.mod_revision).toBeGreaterThan(json.kvs[0]?.mod_revision ?? 0);
    expect(again.kvs[0]?.create_revision).toBe(json.kvs[0]?.create_revision);
    // One store, two dialects.
    expect(Buffer.from(kv.get("app/a")?.Value ?? "", "base64").toString()).toBe("1b");
    expect(kv.get("app/a")).not.toHaveProperty("Version");
    await kv.put("from-consul", Buffer.from("hello"));
    expect(await etcdctl("get", "from-consul", "--print-value-only")).toBe("hello\n");
    expect(await etcdctl("del", "--prefix", "app/")).toBe("2\n");
    expect(kv.get("app/a")).toBeUndefined();
    expect(await etcdctl("get", "--prefix", "app/")).toBe("");
  });

  it("runs a transaction: compare, then the success or failure branch", async () => {
    await etcdctl("put", "txn/k", "v1");
    const child = spawn("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "txn"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stdin.end('value("txn/k") = "v1"\n\nput txn/k v2\n\nput txn/failed yes\n\n');
    await new Promise((resolve) => child.on("close", resolve));
    expect(out).toContain("SUCCESS");
    expect(await etcdctl("get", "txn/k", "--print-value-only")).toBe("v2\n");
    expect(await etcdctl("get", "txn/failed")).toBe("");
  });

  it("watches a prefix and sees puts and deletes, and replays from a past revision", async () => {
    const rev = (JSON.parse(await etcdctl("get", "nothing", "-w", "json")) as { header: { revision: number } }).header.revision;
    await etcdctl("put", "w/one", "1");
    const child = spawn("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "watch", "--prefix", "w/", `--rev=${rev + 1}`], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes("w/one"));
    await etcdctl("put", "w/two", "2");
    await etcdctl("del", "w/one");
    await waitFor(() => out.includes("DELETE"));
    child.kill();
    expect(out).toBe("PUT\nw/one\n1\nPUT\nw/two\n2\nDELETE\nw/one\n\n");
  });

  it("grants a lease, keeps it alive, and deletes its keys when it is revoked", async () => {
    const granted = await etcdctl("lease", "grant", "30");
    const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    expect(id).toBeDefined();
    await etcdctl("put", "leased", "x", `--lease=${id ?? ""}`);
    expect(await etcdctl("lease", "keep-alive", "--once", id ?? "")).toContain(`lease ${id ?? ""} keepalived with TTL(30)`);
    expect(await etcdctl("lease", "timetolive", "--keys", id ?? "")).toContain("attached keys([leased])");
    expect(await etcdctl("lease", "list")).toContain(id ?? "");
    await etcdctl("lease", "revoke", id ?? "");
    expect(await etcdctl("get", "leased")).toBe("");
  });

  it("takes a lock and elects a leader (etcd's concurrency recipes over KV, lease and watch)", async () => {
    const lock = spawn("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "lock", "mylock"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    lock.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.startsWith("mylock/"));
    expect(await etcdctl("get", "--prefix", "mylock/", "--keys-only")).toMatch(/^mylock\/[0-9a-f]+\n/);
    lock.kill("SIGINT");
    await new Promise((resolve) => lock.on("close", resolve));
    expect(await etcdctl("get", "--prefix", "mylock/")).toBe("");

    const elect = spawn("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "elect", "myelection", "p1"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let e = "";
    elect.stdout.on("data", (d: Buffer) => (e += d.toString()));
    await waitFor(() => e.includes("p1"));
    // `elect -l` observes the leader until it is stopped.
    const observer = spawn("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "elect", "-l", "myelection"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let seen = "";
    observer.stdout.on("data", (d: Buffer) => (seen += d.toString()));
    await waitFor(() => seen.includes("p1"));
    expect(seen).toMatch(/^myelection\/[0-9a-f]+\np1\n/);
    elect.kill("SIGINT");
    await new Promise((resolve) => elect.on("close", resolve));
    // The candidate resigned on its way out: its key is gone.
    expect(await etcdctl("get", "--prefix", "myelection/")).toBe("");
    observer.kill();
  });

  it("answers endpoint status, endpoint health and member list", async () => {
    // etcdctl's per-endpoint clients send the whole URL (http://...) as HTTP/2's :authority: the listener takes it as etcd does.
    const status = await etcdctl("endpoint", "status", "-w", "json");
    expect(status).toContain('"version":"3.5.0"');
    // etcdctl says health on stderr.
    const health = await run("etcdctl", [`--endpoints=http://127.0.0.1:${etcd.port}`, "endpoint", "health"], { env: { ...process.env, ETCDCTL_API: "3" } });
    expect(health.stdout + health.stderr).toMatch(/http:\/\/127\.0\.0\.1:\d+ is healthy/);
    const members = await etcdctl("member", "list");
    expect(members).toContain("node-1");
    expect(members).toContain(`http://127.0.0.1:${etcd.port}`);
    // And as host:port.
    const plain = await run("etcdctl", [`--endpoints=127.0.0.1:${etcd.port}`, "endpoint", "status"], { env: { ...process.env, ETCDCTL_API: "3" } });
    expect(plain.stdout).toContain("3.5.0");
  });

  it("refuses what is not built with UNIMPLEMENTED and says so", async () => {
    await expect(etcdctl("defrag")).rejects.toThrow(/Defragment is not implemented by Ruche/);
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
