import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Etcd3, type IKeyValue } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ALLOW_ALL, DENY_ALL, type Acl } from "../structs/index.js";
import { startEtcd, type RunningEtcd } from "./index.js";

/**
 * The npm etcd3 client and curl on the JSON gateway against Ruche's etcd listener over an
 * in-memory store; then the same with ACLs on, where a Ruche token is the etcd token.
 */
const run = promisify(execFile);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let store: StateStore;
let etcd: RunningEtcd;
let kv: KVService;
let client: Etcd3;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  const delays = new LockDelays();
  kv = new KVService(store, { now: Date.now, delays });
  etcd = await startEtcd({ host: "127.0.0.1", port: 0, store, delays, log: silent, memberName: "node-1", clusterName: "global" });
  client = new Etcd3({ hosts: `http://127.0.0.1:${etcd.port}` });
});

afterAll(async () => {
  client.close();
  await etcd.close();
  await store.close();
});

/** curl on the JSON gateway: POST a JSON body, answer the JSON (and the status). */
async function curl(path: string, body: unknown, headers: string[] = []): Promise<{ status: number; json: Record<string, unknown> }> {
  try {
    const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "content-type: application/json", ...headers.flatMap((h) => ["-H", h]), "--data-binary", JSON.stringify(body), `http://127.0.0.1:${etcd.port}${path}`]);
    const at = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(at + 1)), json: JSON.parse(stdout.slice(0, at)) as Record<string, unknown> };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("curl is missing: install Debian's curl (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
}
const b64 = (s: string): string => Buffer.from(s).toString("base64");
const put0 = (r: { json: Record<string, unknown> }): { revision: string } => r.json.header as { revision: string };

describe("npm etcd3 against Ruche's etcd listener", () => {
  it("puts, gets, lists a prefix and deletes", async () => {
    await client.put("e3/a").value("1");
    await client.put("e3/b").value("2");
    expect(await client.get("e3/a").string()).toBe("1");
    expect(await client.getAll().prefix("e3/").strings()).toEqual({ "e3/a": "1", "e3/b": "2" });
    expect(await client.getAll().prefix("e3/").count()).toBe(2);
    await client.delete().key("e3/a");
    expect(await client.get("e3/a").string()).toBeNull();
    expect(kv.get("e3/b")?.Value).toBe(b64("2"));
  });

  it("watches a key and gets its puts and deletes with prev_kv", async () => {
    const watcher = await client.watch().key("e3/w").withPreviousKV().create();
    const seen: string[] = [];
    watcher.on("put", (kv: IKeyValue, prev?: IKeyValue) => seen.push(`put ${kv.value.toString()} prev=${prev?.value.toString() ?? "-"}`));
    watcher.on("delete", (_kv: IKeyValue, prev?: IKeyValue) => seen.push(`delete prev=${prev?.value.toString() ?? "-"}`));
    await client.put("e3/w").value("x");
    await client.put("e3/w").value("y");
    await client.delete().key("e3/w");
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(["put x prev=-", "put y prev=x", "delete prev=y"]);
    await watcher.cancel();
  });

  it("deletes a lease's keys when the lease expires", async () => {
    const lease = client.lease(2, { autoKeepAlive: false });
    await lease.put("e3/leased").value("soon gone");
    expect(await client.get("e3/leased").string()).toBe("soon gone");
    expect(Number(await lease.grant())).toBeGreaterThan(0);
    await waitFor(async () => (await client.get("e3/leased").string()) === null, 6000);
    expect(kv.get("e3/leased")).toBeUndefined();
  });

  it("locks (one holder at a time) and runs a software transaction", async () => {
    // etcd3's lock tries once: while another holds it, it is refused; once released, taken.
    const first = await client.lock("e3/mutex").ttl(10).acquire();
    await expect(client.lock("e3/mutex").ttl(10).acquire()).rejects.toThrow(/Failed to acquire a lock/);
    await first.release();
    const second = await client.lock("e3/mutex").ttl(10).acquire();
    await second.release();

    await client.put("e3/counter").value("0");
    await Promise.all(
      [1, 2, 3].map(() =>
        client.stm().transact(async (tx) => {
          const n = Number(await tx.get("e3/counter").string());
          await tx.put("e3/counter").value(String(n + 1));
        }),
      ),
    );
    expect(await client.get("e3/counter").string()).toBe("3");
  });
});

describe("the JSON gateway (curl)", () => {
  it("puts, ranges and deletes with base64 keys, int64 as strings", async () => {
    const put = await curl("/v3/kv/put", { key: b64("gw/k"), value: b64("v") });
    expect(put.status).toBe(200);
    const header = put.json.header as { revision: string };
    expect(typeof header.revision).toBe("string");
    const range = await curl("/v3/kv/range", { key: b64("gw/"), range_end: b64("gw0") });
    expect(range.json).toMatchObject({ count: "1", kvs: [{ key: b64("gw/k"), value: b64("v"), version: "1" }] });
    expect(kv.get("gw/k")?.Value).toBe(b64("v"));
    const txn = await curl("/v3/kv/txn", { compare: [{ key: b64("gw/k"), result: "EQUAL", target: "VALUE", value: b64("v") }], success: [{ request_put: { key: b64("gw/k"), value: b64("w") } }] });
    expect(txn.json.succeeded).toBe(true);
    const twice = await curl("/v3/kv/txn", { success: [{ request_put: { key: b64("gw/k"), value: b64("1") } }, { request_put: { key: b64("gw/k"), value: b64("2") } }] });
    expect(twice.json).toMatchObject({ code: 3, error: "etcdserver: duplicate key given in txn request" });
    const del = await curl("/v3/kv/deleterange", { key: b64("gw/k"), prev_kv: true });
    expect(del.json).toMatchObject({ deleted: "1", prev_kvs: [{ value: b64("w") }] });
  });

  it("streams a watch as lines of {\"result\": ...}", async () => {
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${etcd.port}/v3/watch`, { method: "POST", body: JSON.stringify({ create_request: { key: b64("gw/w"), prev_kv: true } }), signal: ac.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const lines = async (n: number): Promise<Record<string, Record<string, unknown>>[]> => {
      while (text.split("\n").length <= n) {
        const { value } = await reader.read();
        text += Buffer.from(value ?? new Uint8Array()).toString();
      }
      return text.split("\n").slice(0, n).map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
    };
    expect((await lines(1))[0]?.result).toMatchObject({ created: true });
    await curl("/v3/kv/put", { key: b64("gw/w"), value: b64("1") });
    const [, event] = await lines(2);
    expect(event?.result).toMatchObject({ events: [{ kv: { key: b64("gw/w"), value: b64("1"), version: "1" } }] });
    ac.abort();
  });

  it("grants and revokes a lease, and answers status, /version and /health", async () => {
    const grant = await curl("/v3/lease/grant", { TTL: "30" });
    expect(grant.json.TTL).toBe("30");
    const ttl = await curl("/v3/lease/timetolive", { ID: grant.json.ID });
    expect(ttl.json.grantedTTL).toBe("30");
    expect((await curl("/v3/lease/revoke", { ID: grant.json.ID })).status).toBe(200);
    expect((await curl("/v3/maintenance/status", {})).json.version).toBe("3.5.0");
    const { stdout } = await run("curl", ["-sS", `http://127.0.0.1:${etcd.port}/version`]);
    expect(JSON.parse(stdout)).toEqual({ etcdserver: "3.5.0", etcdcluster: "3.5.0" });
    expect(JSON.parse((await run("curl", ["-sS", `http://127.0.0.1:${etcd.port}/health`])).stdout)).toMatchObject({ health: "true" });
  });

  it("answers a bad request and an unbuilt method as grpc-gateway does", async () => {
    const bad = await curl("/v3/kv/range", { key: "" });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 3, error: "etcdserver: key is not provided" });
    const before = Number((put0(await curl("/v3/kv/put", { key: b64("gw/c"), value: b64("1") }))).revision);
    await curl("/v3/kv/put", { key: b64("gw/c"), value: b64("2") });
    // A read at an older revision undoes the later history; compacted, it is refused.
    const old = await curl("/v3/kv/range", { key: b64("gw/c"), revision: String(before) });
    expect(old.json).toMatchObject({ kvs: [{ value: b64("1") }] });
    expect((await curl("/v3/kv/compaction", { revision: String(before + 1) })).status).toBe(200);
    const compacted = await curl("/v3/kv/range", { key: b64("gw/c"), revision: String(before) });
    expect(compacted.status).toBe(400);
    expect(compacted.json.error).toBe("etcdserver: mvcc: required revision has been compacted");
  });
});

describe("the lock and election services (etcd's v3lock and v3election, through the gateway)", () => {
  it("locks and unlocks under the lock's name with the lease's id", async () => {
    const lease = (await curl("/v3/lease/grant", { TTL: "30" })).json.ID as string;
    const locked = await curl("/v3/lock/lock", { name: b64("svc-lock"), lease });
    const key = Buffer.from(locked.json.key as string, "base64").toString();
    expect(key).toBe(`svc-lock/${BigInt(lease).toString(16)}`);
    expect(kv.get(key)).toBeDefined();
    await curl("/v3/lock/unlock", { key: locked.json.key });
    expect(kv.get(key)).toBeUndefined();
  });

  it("campaigns, proclaims, answers the leader and resigns", async () => {
    const lease = (await curl("/v3/lease/grant", { TTL: "30" })).json.ID as string;
    const won = await curl("/v3/election/campaign", { name: b64("svc-elect"), lease, value: b64("p1") });
    const leader = won.json.leader as Record<string, unknown>;
    expect(Buffer.from(leader.key as string, "base64").toString()).toBe(`svc-elect/${BigInt(lease).toString(16)}`);
    expect((await curl("/v3/election/leader", { name: b64("svc-elect") })).json).toMatchObject({ kv: { value: b64("p1") } });
    await curl("/v3/election/proclaim", { leader, value: b64("p2") });
    expect((await curl("/v3/election/leader", { name: b64("svc-elect") })).json).toMatchObject({ kv: { value: b64("p2") } });
    await curl("/v3/election/resign", { leader });
    const none = await curl("/v3/election/leader", { name: b64("svc-elect") });
    expect(none.status).toBe(404);
    expect(none.json.error).toBe("election: no leader");
  });
});

describe("with ACLs on", () => {
  let secured: RunningEtcd;
  let secStore: StateStore;
  beforeAll(async () => {
    secStore = await StateStore.open(memoryBackend());
    const readOnlyApp: Acl = { ...DENY_ALL, prefix: (kind, name, level) => kind === "key" && name.startsWith("app/") && level !== "write" };
    const tokens = new Map<string, Acl>([
      ["root-secret", ALLOW_ALL],
      ["reader-secret", readOnlyApp],
    ]);
    secured = await startEtcd({
      host: "127.0.0.1",
      port: 0,
      store: secStore,
      delays: new LockDelays(),
      log: silent,
      memberName: "node-1",
      clusterName: "global",
      acl: { resolve: (t) => (t === undefined ? { ok: true, acl: DENY_ALL } : tokens.has(t) ? { ok: true, acl: tokens.get(t) ?? DENY_ALL } : { ok: false, reason: "not-found" }) },
    });
  });
  afterAll(async () => {
    await secured.close();
    await secStore.close();
  });

  it("takes a Ruche token as etcd's: Authenticate with it as the password, then key:read and key:write decide", async () => {
    const ep = `--endpoints=http://127.0.0.1:${secured.port}`;
    const env = { ...process.env, ETCDCTL_API: "3" };
    await run("etcdctl", [ep, "--user", "root:root-secret", "put", "app/x", "1"], { env });
    const { stdout } = await run("etcdctl", [ep, "--user", "me:reader-secret", "get", "app/x", "--print-value-only"], { env });
    expect(stdout).toBe("1\n");
    await expect(run("etcdctl", [ep, "--user", "me:reader-secret", "put", "app/x", "2"], { env })).rejects.toThrow(/permission denied/);
    await expect(run("etcdctl", [ep, "--user", "me:wrong", "get", "app/x"], { env })).rejects.toThrow(/authentication failed/);
    await expect(run("etcdctl", [ep, "get", "app/x"], { env })).resolves.toMatchObject({ stdout: "" });
    // The gateway takes the token in Authorization.
    const denied = await fetch(`http://127.0.0.1:${secured.port}/v3/kv/put`, { method: "POST", body: JSON.stringify({ key: b64("app/y"), value: b64("1") }), headers: { authorization: "reader-secret" } });
    expect(denied.status).toBe(403);
    const unknown = await fetch(`http://127.0.0.1:${secured.port}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: b64("app/x") }), headers: { authorization: "nobody" } });
    expect(unknown.status).toBe(401);
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
