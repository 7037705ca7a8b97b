import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { compileAcl, type Acl } from "../structs/index.js";
import { etcdV2, type EtcdV2 } from "./v2.js";

/**
 * etcd's v2 keys API over an in-memory store, on a node HTTP server of the test's own, driven
 * by etcd's own clients: Debian's etcdctl (ETCDCTL_API=2) and curl, as the etcd/fleet article
 * writes them. What they write is Ruche's KV: Consul's KV service reads it, and back.
 */
const run = promisify(execFile);

let store: StateStore;
let kv: KVService;
let v2: EtcdV2;
let server: Server;
let url: string;
let tmp: string;
const children: ChildProcess[] = [];

/** The token → rights the ACL test uses: "app-rw" may write under app/, "ro" read anything; no token: nothing. */
const TOKENS: Record<string, Acl> = {
  "app-rw": compileAcl([{ namespaces: [], prefixes: [{ kind: "key", name: "app/", exact: false, policy: "write" }] }]),
  ro: compileAcl([{ namespaces: [], prefixes: [{ kind: "key", name: "", exact: false, policy: "read" }] }]),
};
let aclOn = false;

async function tool(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { env: { ...process.env, ...env }, timeout: 20_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (e.code === "ENOENT") throw new Error(`${cmd} is missing: install Debian's ${cmd === "etcdctl" ? "etcd-client" : cmd} (scripts/test-deps.sh)`, { cause: err });
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : 1 };
  }
}

const etcdctl = (...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => tool("etcdctl", [`--endpoints=${url}`, ...args], { ETCDCTL_API: "2" });
const curl = async (...args: string[]): Promise<{ status: number; body: string; headers: string }> => {
  const r = await tool("curl", ["-s", "-D", "-", ...args]);
  const [head = "", ...rest] = r.stdout.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), headers: head, body: rest.join("\r\n\r\n") };
};
const value = (key: string): string | undefined => {
  const e = kv.get(key);
  return e === undefined ? undefined : Buffer.from(e.Value ?? "", "base64").toString();
};
const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
/** Starts an etcdctl that runs until it is done (a watch) or stopped; its output so far. */
function etcdctlRunning(...args: string[]): { out: () => string; done: Promise<number>; stop: () => void } {
  const child = spawn("etcdctl", [`--endpoints=${url}`, ...args], { env: { ...process.env, ETCDCTL_API: "2" } });
  children.push(child);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return {
    out: () => out,
    done: new Promise((resolve) => child.on("exit", (code) => { resolve(code ?? -1); })),
    stop: () => {
      child.kill();
    },
  };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ruche-etcd-v2-"));
  store = await StateStore.open(memoryBackend());
  const delays = new LockDelays();
  kv = new KVService(store, { now: Date.now, delays });
  v2 = etcdV2({
    store,
    delays,
    memberName: "node-1",
    clusterName: "global",
    acl: {
      resolve: (token) => {
        if (!aclOn) return { ok: true, acl: compileAcl([{ namespaces: [], prefixes: [{ kind: "key", name: "", exact: false, policy: "write" }] }]) };
        if (token === undefined) return { ok: true, acl: compileAcl([]) };
        const acl = TOKENS[token];
        return acl === undefined ? { ok: false, reason: "ACL not found" } : { ok: true, acl };
      },
    },
  });
  v2.expiry.start();
  server = createServer((req, res) => {
    v2.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill();
  await v2.expiry.stop();
  v2.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
  await rm(tmp, { recursive: true, force: true });
});

describe("etcd v2 keys API: the etcd/fleet article's commands", () => {
  it("sets and gets with etcdctl and curl as the article writes them; Consul's KV holds the keys without the leading slash", async () => {
    const set = await etcdctl("set", "/foo", "Hello world");
    expect(set.stdout).toBe("Hello world\n");
    const put = await curl("-L", "-X", "PUT", `${url}/v2/keys/bar`, "-d", "value=Hello world");
    expect(put.status).toBe(201);
    const e = kv.get("bar");
    expect(JSON.parse(put.body)).toEqual({ action: "set", node: { key: "/bar", value: "Hello world", modifiedIndex: e?.ModifyIndex, createdIndex: e?.CreateIndex } });
    // etcd's field order, as the article shows it.
    expect(put.body).toMatch(/^\{"action":"set","node":\{"key":"\/bar","value":"Hello world","modifiedIndex":\d+,"createdIndex":\d+\}\}/);
    expect(put.headers).toMatch(/x-etcd-index: \d+/i);
    expect(put.headers).toMatch(/x-etcd-cluster-id: [0-9a-f]+/i);
    expect(put.headers).toMatch(/x-raft-term: 1/i);
    expect((await etcdctl("get", "/foo")).stdout).toBe("Hello world\n");
    const get = await curl("-L", `${url}/v2/keys/bar`);
    expect(get.body).toMatch(/^\{"action":"get","node":\{"key":"\/bar","value":"Hello world","modifiedIndex":\d+,"createdIndex":\d+\}\}/);
    // One store, two dialects.
    expect(value("foo")).toBe("Hello world");
    await kv.put("from-consul", Buffer.from("written by consul"));
    expect((await etcdctl("get", "/from-consul")).stdout).toBe("written by consul\n");
  });
});

describe("etcdctl (ETCDCTL_API=2)", () => {
  it("mk, mkdir, ls -r, update, rm, rmdir: the answers and errors etcd gives", async () => {
    expect((await etcdctl("mk", "/mk1", "v")).stdout).toBe("v\n");
    const again = await etcdctl("mk", "/mk1", "v");
    expect(again.stderr).toMatch(/^Error: {2}105: Key already exists \(\/mk1\) \[\d+\]/);
    expect(again.code).not.toBe(0);
    expect((await etcdctl("mkdir", "/dir1")).code).toBe(0);
    expect(kv.get("dir1/")).toBeDefined();
    expect((await etcdctl("mkdir", "/dir1")).stderr).toMatch(/105: Key already exists \(\/dir1\)/);
    await etcdctl("set", "/dir1/a", "1");
    await etcdctl("set", "/dir1/sub/b", "2");
    expect((await etcdctl("ls", "/dir1")).stdout).toBe("/dir1/a\n/dir1/sub\n");
    expect((await etcdctl("ls", "-r", "/dir1")).stdout).toBe("/dir1/a\n/dir1/sub\n/dir1/sub/b\n");
    expect((await etcdctl("ls", "--sort", "-p", "/dir1")).stdout).toBe("/dir1/a\n/dir1/sub/\n");
    expect((await etcdctl("get", "/dir1")).stderr).toMatch(/\/dir1: is a directory/);
    expect((await etcdctl("get", "/nope")).stderr).toMatch(/^Error: {2}100: Key not found \(\/nope\) \[\d+\]/);
    expect((await etcdctl("update", "/dir1/a", "3")).stdout).toBe("3\n");
    expect((await etcdctl("update", "/nope", "3")).stderr).toMatch(/100: Key not found \(\/nope\)/);
    expect((await etcdctl("set", "/dir1/a/x", "1")).stderr).toMatch(/104: Not a directory \(\/dir1\/a\)/);
    expect((await etcdctl("rm", "/dir1/a")).stdout).toBe("PrevNode.Value: 3\n");
    expect((await etcdctl("rm", "/dir1")).stderr).toMatch(/102: Not a file \(\/dir1\)/);
    expect((await etcdctl("rmdir", "/dir1")).stderr).toMatch(/108: Directory not empty \(\/dir1\)/);
    expect((await etcdctl("rm", "-r", "/dir1")).code).toBe(0);
    expect(kv.list("dir1")).toEqual([]);
    await etcdctl("mkdir", "/empty");
    expect((await etcdctl("rmdir", "/empty")).code).toBe(0);
    expect(kv.get("empty/")).toBeUndefined();
    // Compare and swap, compare and delete.
    await etcdctl("set", "/cas", "one");
    expect((await etcdctl("set", "--swap-with-value", "two", "/cas", "three")).stderr).toMatch(/101: Compare failed \(\[two != one\]\)/);
    expect((await etcdctl("set", "--swap-with-value", "one", "/cas", "two")).stdout).toBe("two\n");
    expect((await etcdctl("rm", "--with-value", "two", "/cas")).code).toBe(0);
    expect(kv.get("cas")).toBeUndefined();
  });

  it("shows the extended and JSON outputs from etcd's fields", async () => {
    await etcdctl("set", "/ext", "x");
    const e = kv.get("ext");
    const ext = await etcdctl("-o", "extended", "get", "/ext");
    expect(ext.stdout).toMatch(new RegExp(`^Key: /ext\nCreated-Index: ${e?.CreateIndex}\nModified-Index: ${e?.ModifyIndex}\nTTL: 0\nIndex: \\d+\n\nx\n$`));
    const json = JSON.parse((await etcdctl("-o", "json", "get", "/ext")).stdout) as { action: string; node: { key: string; value: string } };
    expect(json).toMatchObject({ action: "get", node: { key: "/ext", value: "x" } });
  });

  it("expires a key set with --ttl, and keeps one whose TTL was refreshed", async () => {
    expect((await etcdctl("set", "--ttl", "1", "/short", "gone soon")).stdout).toBe("gone soon\n");
    const ext = await etcdctl("-o", "extended", "get", "/short");
    expect(ext.stdout).toMatch(/TTL: 1\n/);
    await etcdctl("set", "--ttl", "1", "/refreshed", "stays");
    const r = await curl("-X", "PUT", `${url}/v2/keys/refreshed?ttl=60&refresh=true&prevExist=true`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ action: "update", node: { key: "/refreshed", value: "stays", ttl: 60 }, prevNode: { value: "stays" } });
    await until("/short to expire", () => kv.get("short") === undefined, 5000);
    expect((await etcdctl("get", "/short")).stderr).toMatch(/100: Key not found/);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await etcdctl("get", "/refreshed")).stdout).toBe("stays\n");
    // A write through Consul's API ends the TTL, as a set without one does in etcd.
    await etcdctl("set", "--ttl", "1", "/consul-kept", "a");
    await kv.put("consul-kept", Buffer.from("b"));
    await new Promise((resolve) => setTimeout(resolve, 1800));
    expect(value("consul-kept")).toBe("b");
    // A directory with a TTL goes with everything under it.
    await etcdctl("mkdir", "--ttl", "1", "/tmpdir");
    await etcdctl("set", "/tmpdir/k", "v");
    await until("/tmpdir to expire", () => kv.list("tmpdir").length === 0, 5000);
  });

  it("watches a key and a tree; exec-watch runs a command with etcd's variables", async () => {
    const w = etcdctlRunning("watch", "/w");
    const wr = etcdctlRunning("watch", "-r", "/wd");
    const marks = join(tmp, "exec-watch.out");
    const ew = etcdctlRunning("exec-watch", "--recursive", "/x", "--", "sh", "-c", `echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE" >> ${marks}`);
    await until("the three watches to wait", async () => (await v2Watchers()) >= 3);
    await etcdctl("set", "/w", "hello");
    await etcdctl("set", "/wd/a/b", "deep");
    await etcdctl("set", "/x", "xv");
    expect(await w.done).toBe(0);
    expect(w.out()).toBe("hello\n");
    expect(await wr.done).toBe(0);
    expect(wr.out()).toBe("[set] /wd/a/b\ndeep\n");
    await until("exec-watch to run its command", async () => (await readFile(marks, "utf8").catch(() => "")).includes("set /x xv"));
    // A write through Consul's API wakes a v2 watch too.
    await kv.put("x", Buffer.from("from consul"));
    await until("exec-watch to see Consul's write", async () => (await readFile(marks, "utf8").catch(() => "")).includes("set /x from consul"));
    ew.stop();
  });
});

/** How many v2 watches wait now, as `/v2/stats/store` shows it. */
async function v2Watchers(): Promise<number> {
  const r = await fetch(`${url}/v2/stats/store`);
  return ((await r.json()) as { watchers: number }).watchers;
}

describe("curl on /v2/keys: etcd's parameters, shapes and errors", () => {
  it("creates in-order keys with POST and lists them sorted", async () => {
    const a = JSON.parse((await curl("-X", "POST", `${url}/v2/keys/queue`, "-d", "value=job1")).body) as { action: string; node: { key: string } };
    const b = JSON.parse((await curl("-X", "POST", `${url}/v2/keys/queue`, "-d", "value=job2")).body) as { action: string; node: { key: string } };
    expect(a.action).toBe("create");
    expect(a.node.key).toMatch(/^\/queue\/\d{20}$/);
    expect(b.node.key > a.node.key).toBe(true);
    const list = JSON.parse((await curl(`${url}/v2/keys/queue?recursive=true&sorted=true`)).body) as { node: { key: string; dir: boolean; nodes: { key: string; value: string }[] } };
    expect(list.node).toMatchObject({ key: "/queue", dir: true });
    expect(list.node.nodes.map((n) => n.value)).toEqual(["job1", "job2"]);
    // Consul sees the same keys.
    expect(kv.keys("queue/")).toEqual([a.node.key.slice(1), b.node.key.slice(1)]);
  });

  it("answers etcd's errors with etcd's codes, statuses and causes", async () => {
    await curl("-X", "PUT", `${url}/v2/keys/e1`, "-d", "value=z");
    const cases: [string[], number, number, string][] = [
      [[`${url}/v2/keys/missing`], 404, 100, "/missing"],
      [["-X", "PUT", `${url}/v2/keys/e1?prevExist=false`, "-d", "value=z"], 412, 105, "/e1"],
      [["-X", "PUT", `${url}/v2/keys/e1?prevValue=nope`, "-d", "value=w"], 412, 101, "[nope != z]"],
      [["-X", "PUT", `${url}/v2/keys/e1?prevIndex=1`, "-d", "value=w"], 412, 101, `[1 != ${kv.get("e1")?.ModifyIndex}]`],
      [["-X", "PUT", `${url}/v2/keys/e1?ttl=abc`, "-d", "value=1"], 400, 202, 'invalid value for "ttl"'],
      [["-X", "PUT", `${url}/v2/keys/e1?prevIndex=abc`, "-d", "value=1"], 400, 203, 'invalid value for "prevIndex"'],
      [["-X", "PUT", `${url}/v2/keys/e1?ttl=99999999999`, "-d", "value=1"], 400, 209, "over the largest Ruche keeps"],
      [["-X", "PUT", `${url}/v2/keys/e1?recursive=maybe`], 400, 209, 'invalid value for "recursive"'],
      [["-X", "PUT", `${url}/v2/keys/e1?ttl=4&refresh=true`, "-d", "value=y"], 400, 211, "A value was provided on a refresh"],
      [["-X", "PUT", `${url}/v2/keys/e1?refresh=true`], 400, 212, "No TTL value set"],
      [["-X", "PUT", `${url}/v2/keys/`, "-d", "value=1"], 400, 107, "/"],
      [["-X", "DELETE", `${url}/v2/keys/`], 400, 107, "/"],
      [["-X", "DELETE", `${url}/v2/keys/e1?prevValue=nope`], 412, 101, "[nope != z]"],
      [[`${url}/v2/keys/e1?wait=true&waitIndex=1`], 400, 401, `the requested history has been cleared`],
    ];
    for (const [args, status, code, cause] of cases) {
      const r = await curl(...args);
      expect({ args, status: r.status }).toEqual({ args, status });
      const body = JSON.parse(r.body) as { errorCode: number; cause: string; index: number; message: string };
      expect({ args, code: body.errorCode }).toEqual({ args, code });
      expect(body.cause).toContain(cause);
      expect(typeof body.message).toBe("string");
    }
    expect((await curl("-X", "PATCH", `${url}/v2/keys/e1`)).status).toBe(405);
  });

  it("returns a past event from waitIndex, and waits for the next one otherwise", async () => {
    const set = await curl("-X", "PUT", `${url}/v2/keys/hist`, "-d", "value=1");
    const at = Number(/x-etcd-index: (\d+)/i.exec(set.headers)?.[1]);
    await curl("-X", "PUT", `${url}/v2/keys/hist?prevExist=true`, "-d", "value=2");
    const past = JSON.parse((await curl(`${url}/v2/keys/hist?wait=true&waitIndex=${at}`)).body) as { action: string; node: { value: string; modifiedIndex: number } };
    expect(past).toMatchObject({ action: "set", node: { value: "1", modifiedIndex: at } });
    const next = JSON.parse((await curl(`${url}/v2/keys/hist?wait=true&waitIndex=${at + 1}`)).body) as { action: string; node: { value: string }; prevNode: { value: string } };
    expect(next).toMatchObject({ action: "update", node: { value: "2" }, prevNode: { value: "1" } });
    // A TTL's refresh wakes no watcher (so that heartbeats do not), a change does.
    await curl("-X", "PUT", `${url}/v2/keys/hb?ttl=30`, "-d", "value=alive");
    const watching = curl(`${url}/v2/keys/hb?wait=true`);
    await until("the watch to wait", async () => (await v2Watchers()) >= 1);
    expect((await curl("-X", "PUT", `${url}/v2/keys/hb?ttl=30&refresh=true&prevExist=true`)).status).toBe(200);
    await curl("-X", "PUT", `${url}/v2/keys/hb`, "-d", "value=changed");
    expect(JSON.parse((await watching).body)).toMatchObject({ action: "set", node: { key: "/hb", value: "changed" }, prevNode: { value: "alive", ttl: 30 } });
    // A recursive wait on a directory sees a write under it.
    const waiting = curl(`${url}/v2/keys/hist-dir?wait=true&recursive=true`);
    await until("the recursive watch to wait", async () => (await v2Watchers()) >= 1);
    await curl("-X", "PUT", `${url}/v2/keys/hist-dir/k`, "-d", "value=v");
    expect(JSON.parse((await waiting).body)).toMatchObject({ action: "set", node: { key: "/hist-dir/k", value: "v" } });
  });

  it("streams every event of a tree with stream=true until the client goes", async () => {
    const child = spawn("curl", ["-sN", `${url}/v2/keys/st?wait=true&recursive=true&stream=true`]);
    children.push(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await until("the stream to wait", async () => (await v2Watchers()) >= 1);
    await curl("-X", "PUT", `${url}/v2/keys/st/a`, "-d", "value=1");
    await curl("-X", "PUT", `${url}/v2/keys/st/b`, "-d", "value=2");
    await curl("-X", "DELETE", `${url}/v2/keys/st/a`);
    await until("three events", () => out.split("\n").length > 3);
    expect(out.trim().split("\n").map((l) => (JSON.parse(l) as { action: string; node: { key: string } }).action + " " + (JSON.parse(l) as { node: { key: string } }).node.key)).toEqual(["set /st/a", "set /st/b", "delete /st/a"]);
    child.kill();
    await until("the stream's watch to end", async () => (await v2Watchers()) === 0);
  });

  it("lists a directory, hiding keys that start with _", async () => {
    await curl("-X", "PUT", `${url}/v2/keys/cfg/shown`, "-d", "value=1");
    await curl("-X", "PUT", `${url}/v2/keys/cfg/_hidden`, "-d", "value=2");
    await curl("-X", "PUT", `${url}/v2/keys/cfg/sub?dir=true`);
    const list = JSON.parse((await curl(`${url}/v2/keys/cfg`)).body) as { node: { nodes: { key: string; dir?: boolean }[] } };
    expect(list.node.nodes.map((n) => n.key)).toEqual(["/cfg/shown", "/cfg/sub"]);
    expect(list.node.nodes[1]).toMatchObject({ dir: true });
    expect(JSON.parse((await curl(`${url}/v2/keys/cfg/_hidden`)).body)).toMatchObject({ node: { value: "2" } });
  });

  it("serves /v2/members (etcdctl's sync), /v2/stats and /version", async () => {
    const m = JSON.parse((await curl(`${url}/v2/members`)).body) as { members: { id: string; name: string; clientURLs: string[] }[] };
    expect(m.members).toEqual([{ id: expect.stringMatching(/^[0-9a-f]+$/) as unknown, name: "node-1", peerURLs: [], clientURLs: [url] }]);
    expect(JSON.parse((await curl(`${url}/v2/stats/self`)).body)).toMatchObject({ name: "node-1", state: "StateLeader" });
    expect(JSON.parse((await curl(`${url}/v2/stats/store`)).body)).toHaveProperty("setsSuccess");
    expect(JSON.parse((await curl(`${url}/version`)).body)).toHaveProperty("etcdserver");
    expect((await curl("-X", "POST", `${url}/v2/members`, "-d", "{}")).status).toBe(501);
  });
});

describe("several servers", () => {
  it("a follower refuses writes with etcd's 300, naming the leader's port, and serves reads", async () => {
    const follower = etcdV2({ store, delays: new LockDelays(), memberName: "node-2", clusterName: "global", isLeader: () => false });
    const srv = createServer((req, res) => {
      follower.handle(req, res);
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const at = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const w = await curl("-X", "PUT", `${at}/v2/keys/on-follower`, "-d", "value=1");
      expect(w.status).toBe(500);
      expect(JSON.parse(w.body)).toMatchObject({ errorCode: 300, message: "Raft Internal Error", cause: expect.stringContaining("leader's etcd port") as unknown });
      expect(kv.get("on-follower")).toBeUndefined();
      await kv.put("on-leader", Buffer.from("seen"));
      expect(JSON.parse((await curl(`${at}/v2/keys/on-leader`)).body)).toMatchObject({ node: { value: "seen" } });
      expect(JSON.parse((await curl(`${at}/v2/stats/self`)).body)).toMatchObject({ name: "node-2", state: "StateFollower" });
    } finally {
      follower.close();
      srv.closeAllConnections();
      await new Promise((resolve) => srv.close(resolve));
    }
  });
});

describe("ACLs", () => {
  it("checks a Ruche token as Consul's KV rules: key read and write", async () => {
    aclOn = true;
    try {
      await kv.put("app/one", Buffer.from("1"));
      await kv.put("secret", Buffer.from("s"));
      const anon = await curl(`${url}/v2/keys/app/one`);
      expect(anon.status).toBe(401);
      expect(JSON.parse(anon.body)).toMatchObject({ errorCode: 110 });
      expect((await curl("-H", "X-Consul-Token: app-rw", `${url}/v2/keys/app/one`)).status).toBe(200);
      expect((await curl("-H", "Authorization: Bearer app-rw", "-X", "PUT", `${url}/v2/keys/app/two`, "-d", "value=2")).status).toBe(201);
      expect((await curl("-H", "X-Consul-Token: app-rw", "-X", "PUT", `${url}/v2/keys/secret`, "-d", "value=x")).status).toBe(401);
      expect(value("secret")).toBe("s");
      expect((await curl("-H", "X-Consul-Token: ro", "-X", "PUT", `${url}/v2/keys/app/one`, "-d", "value=x")).status).toBe(401);
      const unknown = await curl("-H", "X-Consul-Token: nope", `${url}/v2/keys/app/one`);
      expect(unknown.status).toBe(401);
      expect(JSON.parse(unknown.body)).toMatchObject({ errorCode: 110, message: "The request requires user authentication" });
      expect(unknown.body).toMatch(/Ruche ACL token/);
      // etcd's basic auth: the password is the token, as the v3 API's Authenticate takes it.
      expect((await etcdctl("--username", "me:app-rw", "get", "/app/one")).stdout).toBe("1\n");
      const wrong = await etcdctl("--username", "root:pw", "get", "/app/one");
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/110: The request requires user authentication/);
      // etcd's users and roles are Ruche's ACL policies: not built.
      expect((await curl("-H", "X-Consul-Token: app-rw", "-X", "PUT", `${url}/v2/auth/enable`)).status).toBe(501);
      expect((await etcdctl("--username", "me:app-rw", "user", "list")).code).not.toBe(0);
      // A listing leaves out what the token may not read.
      const root = JSON.parse((await curl("-H", "X-Consul-Token: app-rw", `${url}/v2/keys/?recursive=true`)).body) as { node: { nodes: { key: string }[] } };
      expect(root.node.nodes.map((n) => n.key)).toEqual(["/app"]);
      // A tree it may read nothing of is not found.
      await kv.put("private/a", Buffer.from("1"));
      expect(JSON.parse((await curl("-H", "X-Consul-Token: app-rw", `${url}/v2/keys/private`)).body)).toMatchObject({ errorCode: 100 });
    } finally {
      aclOn = false;
    }
  });
});
