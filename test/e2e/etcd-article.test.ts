/**
 * The etcd/fleet article's etcd commands (5-coreos-etcd-fleet.txt, "etcd"), as it writes
 * them, against a dev agent's etcd port: only the port changes (the agent's `-etcd-port`, here
 * a free one, where the article's etcd listens on 2379). etcdctl is Debian's (etcd-client),
 * with `ETCDCTL_API=2` for the article's v2 commands, as CoreOS's etcd2 had them; what they
 * write is Ruche's KV, which Consul's API and etcd's v3 API read.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NO_ACL_NO_TLS, startAgentProcess, until, type AgentProcess } from "./harness.js";

const exec = promisify(execFile);

let agent: AgentProcess;
/** host:port of the agent's etcd API. */
let etcd = "";

/** Runs a command that must be installed (scripts/test-deps.sh: curl, and etcdctl from etcd-client); its stdout. */
async function run(file: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    return (await exec(file, args, { timeout: 20_000, env: { ...process.env, ...env } })).stdout;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error(`${file} is not installed: scripts/test-deps.sh installs it (Debian package ${file === "etcdctl" ? "etcd-client" : file})`, { cause: err });
    throw err;
  }
}

/** The article's `etcdctl ...` (etcd2's), pointed at the agent's etcd port. */
const etcdctl = (...args: string[]): Promise<string> => run("etcdctl", [`--endpoints=http://${etcd}`, ...args], { ETCDCTL_API: "2" });
/** etcdctl of etcd's v3 API, for what the article does with etcd 3 (locks). */
const etcdctl3 = (...args: string[]): Promise<string> => run("etcdctl", [`--endpoints=http://${etcd}`, ...args], { ETCDCTL_API: "3" });
/** The article's curl command line, its `127.0.0.1:2379` replaced by the agent's etcd address. */
const curl = (...args: string[]): Promise<string> => run("curl", ["-sS", ...args.map((a) => a.replace("127.0.0.1:2379", etcd))]);

beforeAll(async () => {
  agent = await startAgentProcess(["-dev", ...NO_ACL_NO_TLS, "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-router-port", "-1", "-etcd-port", "0"]);
  etcd = /^ {4}etcd: +https?:\/\/(\S+)/im.exec(agent.out())?.[1] ?? "";
  if (etcd === "") throw new Error(`the agent printed no etcd address:\n${agent.out()}`);
}, 90_000);

afterAll(async () => {
  await agent.stop();
});

describe("the etcd/fleet article's etcd commands", () => {
  it("« Positionner une valeur » and « Récupérer une valeur »: etcdctl set/get and curl PUT/GET on /v2/keys", async () => {
    expect(await etcdctl("set", "/foo", "Hello world")).toBe("Hello world\n");
    const put = await curl("-L", "-X", "PUT", "http://127.0.0.1:2379/v2/keys/bar", "-d", "value=Hello world");
    expect(put).toMatch(/^\{"action":"set","node":\{"key":"\/bar","value":"Hello world","modifiedIndex":(\d+),"createdIndex":\1\}\}\n?$/);
    expect(await etcdctl("get", "/foo")).toBe("Hello world\n");
    const get = await curl("-L", "http://127.0.0.1:2379/v2/keys/bar");
    const at = /"createdIndex":(\d+)/.exec(put)?.[1];
    expect(get).toBe(`{"action":"get","node":{"key":"/bar","value":"Hello world","modifiedIndex":${at},"createdIndex":${at}}}\n`);
  });

  it("« Cluster Etcd »: etcdctl's cluster-health sees one healthy member", async () => {
    expect(await etcdctl("cluster-health")).toMatch(new RegExp(`^member [0-9a-f]+ is healthy: got healthy result from http://${etcd.replace(/\./g, "\\.")}\ncluster is healthy\n$`));
  });

  it("one store: Consul's KV and etcd's v3 API read what the article wrote", async () => {
    expect(await run("curl", ["-sS", `http://${agent.consulAddress}/v1/kv/foo?raw`])).toBe("Hello world");
    expect(await etcdctl3("get", "bar", "--print-value-only")).toBe("Hello world\n");
  });

  it("« Supervision d'une clef »: a watch sees the next change; « durée de vie (TTL) »: a key with a TTL goes", async () => {
    const watch = spawn("etcdctl", [`--endpoints=http://${etcd}`, "watch", "/foo"], { env: { ...process.env, ETCDCTL_API: "2" } });
    let seen = "";
    watch.stdout.on("data", (d: Buffer) => (seen += d.toString()));
    const done = new Promise<number>((resolve) => watch.on("exit", (code) => { resolve(code ?? -1); }));
    await until("the watch to wait", async () => (((await (await fetch(`http://${etcd}/v2/stats/store`)).json()) as { watchers: number }).watchers > 0 ? true : undefined), 10_000);
    await etcdctl("set", "/foo", "Bonjour");
    expect(await done).toBe(0);
    expect(seen).toBe("Bonjour\n");
    expect(await etcdctl("set", "--ttl", "2", "/ephemere", "bientôt parti")).toBe("bientôt parti\n");
    await until("/ephemere to expire", async () => ((await curl("http://127.0.0.1:2379/v2/keys/ephemere")).includes('"errorCode":100') ? true : undefined), 10_000);
  });

  it("« verrou »: etcd's lock (v3) is held by one at a time", async () => {
    const holder = spawn("etcdctl", [`--endpoints=http://${etcd}`, "lock", "article-lock"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let held = "";
    holder.stdout.on("data", (d: Buffer) => (held += d.toString()));
    await until("the lock to be held", () => (held.startsWith("article-lock/") ? true : undefined), 10_000);
    // A second taker waits: it has not got it within a second.
    const other = spawn("etcdctl", [`--endpoints=http://${etcd}`, "lock", "article-lock"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let second = "";
    other.stdout.on("data", (d: Buffer) => (second += d.toString()));
    await new Promise((r) => setTimeout(r, 1000));
    expect(second).toBe("");
    holder.kill("SIGINT");
    await until("the second taker to get the lock", () => (second.startsWith("article-lock/") ? true : undefined), 15_000);
    other.kill("SIGINT");
  });
});
