import { beforeAll, describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { AclPrefixKind, mock, NamespaceCap, silentLogger, type Allocation, type Job, type WorkloadIdentity } from "../structs/index.js";
import { AclResolver } from "./acl-resolve.js";
import { ensureSigningKey, IdentitySigner } from "./workload-identity.js";

const DEFAULT: WorkloadIdentity = { Name: "default", Audience: ["nomadproject.io"], Env: true, File: false, ChangeMode: "", ChangeSignal: "", TTL: 0 };
const VAULT: WorkloadIdentity = { Name: "vault", Audience: ["vault.io"], Env: false, File: true, ChangeMode: "", ChangeSignal: "", TTL: 3_600_000_000_000 };

function jobWith(id: string, identities: { Identity?: WorkloadIdentity; Identities?: WorkloadIdentity[] }): Job {
  const j = mock.job({ id });
  const g = j.TaskGroups[0];
  if (g !== undefined) g.Tasks = g.Tasks.map((t) => ({ ...t, ...identities }));
  return j;
}

let store: StateStore;
let now = Date.UTC(2026, 0, 1);
const node = mock.node();
const web = mock.alloc(jobWith("web", { Identity: DEFAULT, Identities: [VAULT] }), node, 0);
const plain = mock.alloc(mock.job({ id: "plain" }), node, 0);
let signer: IdentitySigner;
let resolver: AclResolver;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  await store.write((tx) => {
    tx.put("allocs", web);
    tx.put("allocs", plain);
  });
  signer = new IdentitySigner(store, silentLogger, () => now);
  resolver = new AclResolver(store, () => now);
});

async function signed(a: Allocation): Promise<Record<string, string> | undefined> {
  const [out] = await signer.sign([store.alloc(a.ID) ?? a]);
  return out?.SignedIdentities;
}

describe("workload identities at the servers", () => {
  it("makes one signing key, however many ask at once", async () => {
    const keys = await Promise.all([ensureSigningKey(store), ensureSigningKey(store), ensureSigningKey(store)]);
    expect(new Set(keys.map((k) => k.ID)).size).toBe(1);
    expect(store.signingKeys()).toHaveLength(1);
  });

  it("signs the identities a task asks to see, in the copy sent to the node only, and signs each once", async () => {
    const ids = await signed(web);
    expect(Object.keys(ids ?? {}).sort()).toEqual(["web", "web/vault"]);
    expect(await signed(web)).toEqual(ids);
    expect(await signed(plain)).toBeUndefined();
    expect(store.alloc(web.ID)?.SignedIdentities).toBeUndefined();
  });

  it("resolves the default identity to read-job on its own job, its keys and the services, and nothing else", async () => {
    const token = (await signed(web))?.web ?? "";
    const r = resolver.resolve(token);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.identity?.nomad_allocation_id).toBe(web.ID);
    expect(r.acl.namespace("default", NamespaceCap.ReadJob, "web")).toBe(true);
    expect(r.acl.namespace("default", NamespaceCap.ReadJob, "plain")).toBe(false);
    expect(r.acl.namespace("default", NamespaceCap.ReadJob)).toBe(false);
    expect(r.acl.namespace("default", NamespaceCap.ListJobs, "web")).toBe(false);
    expect(r.acl.namespace("default", NamespaceCap.SubmitJob, "web")).toBe(false);
    expect(r.acl.prefix(AclPrefixKind.Key, "nomad/jobs/web/db", "read")).toBe(true);
    expect(r.acl.prefix(AclPrefixKind.Key, "nomad/jobs/web/db", "write")).toBe(false);
    expect(r.acl.prefix(AclPrefixKind.Key, "nomad/jobs/webber/db", "read")).toBe(false);
    expect(r.acl.prefix(AclPrefixKind.Service, "anything", "read")).toBe(true);
    expect(r.acl.prefix(AclPrefixKind.Service, "anything", "write")).toBe(false);
  });

  it("takes no identity for another audience as an API token", async () => {
    const vault = (await signed(web))?.["web/vault"] ?? "";
    expect(resolver.resolve(vault)).toEqual({ ok: false, reason: "not-found" });
  });

  it("renews a token with a ttl once half of it is gone", async () => {
    const before = (await signed(web))?.["web/vault"];
    now += 31 * 60_000;
    const after = (await signed(web))?.["web/vault"];
    expect(after).not.toBe(before);
  });

  it("refuses a token past its exp as expired", async () => {
    const short: WorkloadIdentity = { ...VAULT, Name: "api", Audience: ["nomadproject.io"], TTL: 60_000_000_000 };
    const a = mock.alloc(jobWith("short", { Identities: [short] }), node, 0);
    await store.write((tx) => {
      tx.put("allocs", a);
    });
    const token = (await signed(a))?.["web/api"] ?? "";
    expect(resolver.resolve(token).ok).toBe(true);
    now += 61_000;
    expect(resolver.resolve(token)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses the token once its allocation is terminal, and once it is gone", async () => {
    const token = (await signed(web))?.web ?? "";
    expect(resolver.resolve(token).ok).toBe(true);
    await store.write((tx) => {
      tx.put("allocs", { ...(store.alloc(web.ID) ?? web), DesiredStatus: "stop" });
    });
    expect(resolver.resolve(token)).toEqual({ ok: false, reason: "not-found" });
    await store.write((tx) => {
      tx.delete("allocs", web.ID);
    });
    expect(resolver.resolve(token)).toEqual({ ok: false, reason: "not-found" });
  });
});
