/**
 * The README's "Backing up and restoring the state", done as a user would: its commands are
 * read from the README's paragraph and run through `sh -c`, with only the example's places
 * changed to the test's (its ports 5646/5746/5846 and the ones etcd takes beside them, the
 * data dirs, `/backups/`). On three servers with their own etcd members: `etcdctl snapshot
 * save`, a write after the snapshot, every server stopped, each member's data dir moved aside
 * and restored from the snapshot with `etcdctl snapshot restore`, the servers started again:
 * the job and the KV keys of the snapshot are back, the later write is not, and the cluster
 * takes writes. On a single server: `sqlite3 .backup` while it runs, the server killed, the
 * copy put back in place: the same. With an external etcd (one member the test runs), the
 * README's save command against it, and its advice: servers stopped while that etcd is
 * restored.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePortRange, startEtcd, type EtcdProc } from "../../src/state/etcd-testing.js";
import { freePort } from "./fleet.js";
import { type AgentProcess, NO_ACL_NO_TLS, root, ruche, startAgentProcess, until } from "./harness.js";

/** The README's backup paragraph, and the commands in it: every `code span` that starts with `start`. */
function readmeCommand(start: string): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const para = /\*\*Backing up and restoring the state\.\*\*[\s\S]*?\n\n/.exec(readme)?.[0];
  if (para === undefined) throw new Error("README.md has no paragraph starting **Backing up and restoring the state.**");
  const spans = [...para.matchAll(/`([^`]+)`/g)].map((m) => (m[1] as string).replace(/\s+/g, " ").trim());
  const found = spans.filter((s) => s.startsWith(start));
  if (found.length !== 1) throw new Error(`the README's backup paragraph has ${found.length} commands starting "${start}", not one: ${JSON.stringify(spans)}`);
  return found[0] as string;
}

/** `text` with `from` replaced by `to` everywhere; `from` must be there (the README changed otherwise). */
function sub(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the README's command no longer has "${from}": ${text}`);
  return text.split(from).join(to);
}

function sh(command: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("/bin/sh", ["-c", command], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    p.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
    p.once("error", reject);
    p.once("close", (code) => {
      resolve({ code: code ?? -1, out });
    });
  });
}

async function run(command: string): Promise<string> {
  const r = await sh(command);
  if (r.code !== 0) throw new Error(`\`${command}\` exited ${r.code}:\n${r.out}`);
  return r.out;
}

async function kvPut(consul: string, key: string, value: string): Promise<void> {
  const r = await fetch(`http://${consul}/v1/kv/${key}`, { method: "PUT", body: value });
  expect(`${r.status} ${await r.text()}`).toBe("200 true");
}

/** A key's value, or null when the key is not there. */
async function kvGet(consul: string, key: string): Promise<string | null> {
  const r = await fetch(`http://${consul}/v1/kv/${key}?raw`);
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /v1/kv/${key} on ${consul} answered ${r.status}: ${await r.text()}`);
  return r.text();
}

interface Server {
  name: string;
  /** The README's example HTTP port for this server (examples/cluster/). */
  example: number;
  http: number;
  consul: number;
  dataDir: string;
  agent: AgentProcess | undefined;
}

const dir = mkdtempSync(join(tmpdir(), "ruche-backup-"));
const agents: AgentProcess[] = [];
afterAll(async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** The README's example ports (5646 and the two etcd takes beside it, for each server) as the test's. */
function ports(text: string, servers: Server[]): string {
  return text.replace(/127\.0\.0\.1:(\d+)/g, (all, p: string) => {
    for (const s of servers) {
      const d = Number(p) - s.example;
      if (d >= 0 && d <= 2) return `127.0.0.1:${s.http + d}`;
    }
    return all;
  });
}

describe("the README's backup and restore", () => {
  it("three servers on their own etcd: snapshot save, stop, snapshot restore into each member's data dir, start: the state is back", async () => {
    const taken = new Set<number>();
    const servers: Server[] = [];
    for (const [i, name] of ["server-a", "server-b", "server-c"].entries()) {
      let http = await freePortRange(3);
      while ([http, http + 1, http + 2].some((p) => taken.has(p))) http = await freePortRange(3);
      for (const p of [http, http + 1, http + 2]) taken.add(p);
      let consul = await freePort();
      while (taken.has(consul)) consul = await freePort();
      taken.add(consul);
      servers.push({ name, example: 5646 + 100 * i, http, consul, dataDir: join(dir, name), agent: undefined });
    }
    const join_ = servers.map((s) => `127.0.0.1:${s.http}`).join(",");
    const start = async (s: Server): Promise<void> => {
      mkdirSync(s.dataDir, { recursive: true });
      s.agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-bootstrap-expect", "3", "-retry-join", join_, "-region", "europe", "-node", s.name, "-data-dir", s.dataDir, "-http-port", String(s.http), "-consul-port", String(s.consul), "-dns-port", "-1"]);
      agents.push(s.agent);
    };
    const leader = (): Promise<string> =>
      until("the servers to name one leader", async () => {
        const named = await Promise.all(servers.map(async (s) => (await fetch(`http://127.0.0.1:${s.http}/v1/status/leader`)).json() as Promise<string>));
        return named.every((n) => n !== "" && n === named[0]) ? named[0] : undefined;
      }, 30_000);
    await Promise.all(servers.map((s) => start(s)));
    await leader();
    const [a, b, c] = servers as [Server, Server, Server];

    // The state: a job and KV keys.
    const job = await ruche(`127.0.0.1:${b.http}`, root, "job", "run", "-detach", "examples/demoapp.hcl");
    expect(job.code, job.err).toBe(0);
    await kvPut(`127.0.0.1:${c.consul}`, "app/greeting", "bonjour");
    await kvPut(`127.0.0.1:${a.consul}`, "app/config/replicas", "3");

    // Backup, as the README says.
    mkdirSync(join(dir, "backups"));
    const save = ports(sub(readmeCommand("ETCDCTL_API=3 etcdctl"), "/backups/", `${dir}/backups/`), servers);
    await run(save);
    expect(existsSync(join(dir, "backups", "ruche.snap"))).toBe(true);
    // A write after the snapshot: the restore takes the state back to before it.
    await kvPut(`127.0.0.1:${a.consul}`, "app/after-the-snapshot", "x");

    // Restore: stop every server, move each member's data dir aside, restore into it, start.
    await Promise.all(servers.map((s) => s.agent?.stop() ?? Promise.resolve(true)));
    const restore = readmeCommand("etcdctl snapshot restore");
    for (const s of servers) {
      renameSync(join(s.dataDir, "etcd"), join(s.dataDir, "etcd.old"));
      let cmd = sub(restore, "/backups/", `${dir}/backups/`);
      cmd = sub(cmd, "<data_dir>", s.dataDir);
      cmd = sub(cmd, "--name server-a", `--name ${s.name}`);
      cmd = sub(cmd, "--initial-advertise-peer-urls http://127.0.0.1:5648", `--initial-advertise-peer-urls http://127.0.0.1:${s.example + 2}`);
      await run(ports(cmd, servers));
    }
    await Promise.all(servers.map((s) => start(s)));
    await leader();

    for (const s of servers) {
      const consul = `127.0.0.1:${s.consul}`;
      expect(await kvGet(consul, "app/greeting")).toBe("bonjour");
      expect(await kvGet(consul, "app/config/replicas")).toBe("3");
      expect(await kvGet(consul, "app/after-the-snapshot")).toBeNull();
      const r = await fetch(`http://127.0.0.1:${s.http}/v1/job/demoapp`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { ID: string }).ID).toBe("demoapp");
    }
    // And the restored cluster takes writes, on any server, once its new leader has taken up
    // its duties (until then a write is answered 503 RUCHE_NO_LEADER, "try again").
    await until("a write after the restore", async () => {
      const r = await fetch(`http://127.0.0.1:${c.consul}/v1/kv/app/after-the-restore`, { method: "PUT", body: "y" });
      return r.status === 200 ? true : undefined;
    }, 30_000);
    expect(await kvGet(`127.0.0.1:${a.consul}`, "app/after-the-restore")).toBe("y");
    await Promise.all(servers.map((s) => s.agent?.stop() ?? Promise.resolve(true)));
  }, 240_000);

  it("an external etcd: snapshot save against it, servers stopped, the etcd restored and started, servers started: the state is back", async () => {
    const etcd = await startEtcd({ members: 1 });
    try {
      const member = etcd.members[0] as EtcdProc;
      const http = await freePort();
      const consul = await freePort();
      const startOne = async (): Promise<AgentProcess> => {
        const agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-etcd-endpoints", member.clientURL, "-region", "europe", "-data-dir", join(dir, "external"), "-http-port", String(http), "-consul-port", String(consul), "-dns-port", "-1"]);
        agents.push(agent);
        return agent;
      };
      let agent = await startOne();
      const at = `127.0.0.1:${consul}`;
      await until("a first write", async () => ((await fetch(`http://${at}/v1/kv/app/greeting`, { method: "PUT", body: "bonjour" })).status === 200 ? true : undefined), 30_000);

      // The README's save command, pointed at that etcd.
      mkdirSync(join(dir, "external-backups"));
      const save = sub(sub(readmeCommand("ETCDCTL_API=3 etcdctl"), "/backups/", `${dir}/external-backups/`), "http://127.0.0.1:5647", member.clientURL);
      await run(save);
      await kvPut(at, "app/after-the-snapshot", "x");

      // Stop the server, restore that etcd (its own name, peer URL and token), start it, then the server.
      await agent.stop();
      await member.stop();
      renameSync(member.dataDir, `${member.dataDir}.old`);
      // startEtcd's cluster token: ruche-test-<its first client port>.
      const token = `ruche-test-${new URL(member.clientURL).port}`;
      await run(`etcdctl snapshot restore ${dir}/external-backups/ruche.snap --name ${member.name} --data-dir ${member.dataDir} --initial-cluster ${member.name}=${member.peerURL} --initial-cluster-token ${token} --initial-advertise-peer-urls ${member.peerURL}`);
      await member.start();
      await member.waitHealthy();
      agent = await startOne();
      expect(await kvGet(at, "app/greeting")).toBe("bonjour");
      expect(await kvGet(at, "app/after-the-snapshot")).toBeNull();
      await until("a write after the restore", async () => ((await fetch(`http://${at}/v1/kv/app/after-the-restore`, { method: "PUT", body: "y" })).status === 200 ? true : undefined), 30_000);
      expect(await kvGet(at, "app/after-the-restore")).toBe("y");
      await agent.stop();
    } finally {
      await etcd.stop();
    }
  }, 120_000);

  it("a single server on SQLite: sqlite3 .backup while it runs, the copy put back in place: the state is back", async () => {
    const data = join(dir, "single");
    mkdirSync(data, { recursive: true });
    const http = await freePort();
    const consul = await freePort();
    const startOne = async (): Promise<AgentProcess> => {
      const agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-region", "europe", "-data-dir", data, "-http-port", String(http), "-consul-port", String(consul), "-dns-port", "-1"]);
      agents.push(agent);
      return agent;
    };
    let agent = await startOne();
    const at = `127.0.0.1:${consul}`;
    await kvPut(at, "app/greeting", "bonjour");
    const job = await ruche(`127.0.0.1:${http}`, root, "job", "run", "-detach", "examples/demoapp.hcl");
    expect(job.code, job.err).toBe(0);

    mkdirSync(join(dir, "sqlite-backups"));
    const backup = sub(sub(readmeCommand("sqlite3 "), "/backups/", `${dir}/sqlite-backups/`), "<data_dir>", data);
    await run(backup);
    await kvPut(at, "app/after-the-backup", "x");

    // The server dies (kill -9: its WAL is left beside the database), and the copy goes back.
    await agent.crash();
    for (const f of ["state.db-wal", "state.db-shm"]) if (existsSync(join(data, f))) rmSync(join(data, f));
    copyFileSync(join(dir, "sqlite-backups", "ruche.db"), join(data, "state.db"));
    agent = await startOne();
    expect(await kvGet(at, "app/greeting")).toBe("bonjour");
    expect(await kvGet(at, "app/after-the-backup")).toBeNull();
    expect((await fetch(`http://127.0.0.1:${http}/v1/job/demoapp`)).status).toBe(200);
    await kvPut(at, "app/after-the-restore", "y");
    expect(await kvGet(at, "app/after-the-restore")).toBe("y");
    await agent.stop();
  }, 120_000);
});
