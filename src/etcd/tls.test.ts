import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3, type IKeyValue } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa, type TestCert } from "../../test/tls-certs.js";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ALLOW_ALL, DENY_ALL } from "../structs/index.js";
import { etcdV2, startEtcd, type EtcdAcl, type EtcdV2, type RunningEtcd } from "./index.js";

/**
 * Ruche's etcd listener over TLS, as etcd with --cert-file, --key-file, --trusted-ca-file
 * (and --client-cert-auth): etcdctl (API v3, and v2 with --ca-file), npm etcd3 with its
 * credentials and curl on the JSON gateway, all over TLS against an in-memory store; plain
 * clients, and clients without a certificate where one is required, refused.
 */
const run = promisify(execFile);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let dir = "";
let caPem = "";
let clientCert: TestCert;
let otherCert: TestCert;
let store: StateStore;
let kv: KVService;
let open: RunningEtcd;
let strict: RunningEtcd;
const v2s: EtcdV2[] = [];

const file = (name: string): string => join(dir, name);

async function etcdctl(port: number, args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run("etcdctl", [`--endpoints=https://127.0.0.1:${port}`, ...args], { env: { ...process.env, ETCDCTL_API: "3", ...env }, timeout: 20_000 });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("etcdctl is missing: install Debian's etcd-client (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
}
const v3 = (port: number, ...args: string[]): Promise<string> => etcdctl(port, ["--command-timeout=5s", "--cacert", file("ca.pem"), ...args]);
const v3Cert = (port: number, ...args: string[]): Promise<string> => v3(port, "--cert", file("client.pem"), "--key", file("client-key.pem"), ...args);

async function curl(args: string[]): Promise<{ status: number; body: string }> {
  try {
    const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", "--max-time", "5", ...args]);
    const at = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("curl is missing: install Debian's curl (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-etcd-tls-"));
  const ca = await testCa();
  caPem = ca.cert;
  const serverCert = await ca.issue("server.global.ruche", ["server.global.ruche", "localhost", "127.0.0.1"]);
  clientCert = await ca.issue("client.global.ruche", ["client.global.ruche"]);
  // A certificate of another CA: not the cluster's.
  otherCert = await (await testCa()).issue("client.global.ruche", ["client.global.ruche"]);
  writeFileSync(file("ca.pem"), ca.cert);
  writeFileSync(file("client.pem"), clientCert.cert);
  writeFileSync(file("client-key.pem"), clientCert.key);
  writeFileSync(file("other.pem"), otherCert.cert);
  writeFileSync(file("other-key.pem"), otherCert.key);
  store = await StateStore.open(memoryBackend());
  const delays = new LockDelays();
  kv = new KVService(store, { now: Date.now, delays });
  const tls = { cert: serverCert.cert, key: serverCert.key, ca: ca.cert };
  const ids = { store, delays, memberName: "node-1", clusterName: "global" };
  const v2Open = etcdV2(ids);
  open = await startEtcd({ host: "127.0.0.1", port: 0, ...ids, log: silent, v2: v2Open, tls: { ...tls, requireClientCert: false } });
  // With ACLs: a token still decides what a client certificate lets through (no token: the anonymous one, which may do nothing).
  const acl: EtcdAcl = { resolve: (token) => (token === undefined ? { ok: true, acl: DENY_ALL } : token === "s3cret" ? { ok: true, acl: ALLOW_ALL } : { ok: false, reason: "ACL not found" }) };
  const v2Strict = etcdV2({ ...ids, acl });
  v2s.push(v2Open, v2Strict);
  strict = await startEtcd({ host: "127.0.0.1", port: 0, ...ids, log: silent, acl, v2: v2Strict, tls: { ...tls, requireClientCert: true } });
});

afterAll(async () => {
  await open.close();
  await strict.close();
  for (const v of v2s) v.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("etcdctl over TLS", () => {
  it("puts, gets and watches with --cacert; Consul's KV sees the same keys", async () => {
    expect(await v3(open.port, "put", "tls/a", "1")).toBe("OK\n");
    expect(await v3(open.port, "get", "tls/a")).toBe("tls/a\n1\n");
    expect(kv.get("tls/a")?.Value).toBe(Buffer.from("1").toString("base64"));
    const watch = spawn("etcdctl", [`--endpoints=https://127.0.0.1:${open.port}`, "--cacert", file("ca.pem"), "watch", "tls/w"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    watch.stdout.on("data", (b: Buffer) => (out += b.toString()));
    try {
      // The watch is open once a put reaches it; put until one does.
      await waitFor(async () => {
        await v3(open.port, "put", "tls/w", "seen");
        return out.includes("PUT\ntls/w\nseen\n");
      });
    } finally {
      watch.kill();
    }
  });

  it("runs its per-endpoint commands (endpoint status and health, member list: https:// client URL)", async () => {
    // etcdctl says health on stderr.
    const health = await run("etcdctl", [`--endpoints=https://127.0.0.1:${open.port}`, "--cacert", file("ca.pem"), "endpoint", "health"], { env: { ...process.env, ETCDCTL_API: "3" } });
    expect(health.stdout + health.stderr).toMatch(new RegExp(`https://127\\.0\\.0\\.1:${open.port} is healthy`));
    expect(await v3(open.port, "endpoint", "status")).toContain(`https://127.0.0.1:${open.port}, `);
    expect(await v3(open.port, "member", "list")).toContain(`https://127.0.0.1:${open.port}`);
  });

  it("with a client certificate and a token where both are required", async () => {
    expect(await v3Cert(strict.port, "--user", "me:s3cret", "put", "tls/b", "2")).toBe("OK\n");
    expect(await v3Cert(strict.port, "--user", "me:s3cret", "get", "tls/b", "--print-value-only")).toBe("2\n");
    // The certificate lets the connection in; the token still decides.
    await expect(v3Cert(strict.port, "put", "tls/b", "3")).rejects.toThrow(/permission denied/);
    expect(await v3Cert(strict.port, "endpoint", "status")).toContain("3.5.0");
  });

  it("is refused without a client certificate where one is required, and with one of another CA", async () => {
    await expect(v3(strict.port, "--user", "me:s3cret", "get", "tls/b")).rejects.toThrow(/all SubConns are in TransientFailure/);
    await expect(v3(open.port, "--cert", file("other.pem"), "--key", file("other-key.pem"), "get", "tls/a")).rejects.toThrow(/all SubConns are in TransientFailure/);
  });

  it("is refused in plain text, and without the CA", async () => {
    await expect(etcdctl(open.port, ["--command-timeout=5s", `--endpoints=http://127.0.0.1:${open.port}`, "get", "tls/a"])).rejects.toThrow(/all SubConns are in TransientFailure/);
    await expect(etcdctl(open.port, ["--command-timeout=5s", "get", "tls/a"])).rejects.toThrow(/certificate signed by unknown authority|context deadline exceeded/);
  });

  it("(v2) sets and gets with --ca-file, --cert-file and --key-file", async () => {
    const v2 = (port: number, ...args: string[]): Promise<string> => etcdctl(port, ["--ca-file", file("ca.pem"), ...args], { ETCDCTL_API: "2" });
    expect(await v2(open.port, "set", "/tls/v2", "two")).toBe("two\n");
    expect(await v2(open.port, "get", "/tls/v2")).toBe("two\n");
    expect(await v2(strict.port, "--cert-file", file("client.pem"), "--key-file", file("client-key.pem"), "-u", "me:s3cret", "get", "/tls/v2")).toBe("two\n");
    await expect(v2(strict.port, "-u", "me:s3cret", "get", "/tls/v2")).rejects.toThrow(/remote error: tls: certificate required/);
  });
});

describe("npm etcd3 over TLS", () => {
  it("puts, gets and watches with credentials { rootCertificate, certChain, privateKey }", async () => {
    const client = new Etcd3({
      hosts: `https://127.0.0.1:${strict.port}`,
      auth: { username: "me", password: "s3cret" },
      credentials: { rootCertificate: Buffer.from(caPem), certChain: Buffer.from(clientCert.cert), privateKey: Buffer.from(clientCert.key) },
    });
    try {
      await client.put("tls/e3").value("three");
      expect(await client.get("tls/e3").string()).toBe("three");
      const watcher = await client.watch().key("tls/e3w").create();
      const seen: string[] = [];
      watcher.on("put", (k: IKeyValue) => seen.push(k.value.toString()));
      await client.put("tls/e3w").value("x");
      await waitFor(() => seen.length === 1);
      expect(seen).toEqual(["x"]);
      await watcher.cancel();
    } finally {
      client.close();
    }
  });

  it("is refused without a client certificate where one is required", async () => {
    const client = new Etcd3({ hosts: `https://127.0.0.1:${strict.port}`, auth: { username: "me", password: "s3cret" }, credentials: { rootCertificate: Buffer.from(caPem) }, dialTimeout: 3000 });
    try {
      await expect(client.get("tls/e3").string()).rejects.toThrow(/UNAVAILABLE: No connection established/);
    } finally {
      client.close();
    }
  });
});

describe("the JSON gateway and the v2 API over TLS", () => {
  it("answers curl over HTTPS (ALPN http/1.1), plain HTTP with 400", async () => {
    const range = await curl(["--cacert", file("ca.pem"), "-X", "POST", "--data-binary", JSON.stringify({ key: Buffer.from("tls/a").toString("base64") }), `https://127.0.0.1:${open.port}/v3/kv/range`]);
    expect(range.status).toBe(200);
    const kvs = (JSON.parse(range.body) as { kvs: { value: string }[] }).kvs;
    expect(Buffer.from(kvs[0]?.value ?? "", "base64").toString()).toBe("1");
    const members = await curl(["--cacert", file("ca.pem"), `https://127.0.0.1:${open.port}/v2/members`]);
    expect(JSON.parse(members.body)).toMatchObject({ members: [{ clientURLs: [`https://127.0.0.1:${open.port}`] }] });
    const plain = await curl([`http://127.0.0.1:${open.port}/version`]);
    expect(plain.status).toBe(400);
    expect(plain.body).toContain("Client sent an HTTP request to an HTTPS server.");
  });

  it("refuses curl without a client certificate where one is required", async () => {
    await expect(curl(["--cacert", file("ca.pem"), `https://127.0.0.1:${strict.port}/version`])).rejects.toThrow(/curl: \(\d+\)/);
    const ok = await curl(["--cacert", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client-key.pem"), `https://127.0.0.1:${strict.port}/version`]);
    expect(ok.status).toBe(200);
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}
