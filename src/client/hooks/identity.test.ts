import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mock, type Job, type WorkloadIdentity } from "../../structs/index.js";
import { taskSpec } from "../task-spec.js";
import { taskPaths } from "./alloc-dir.js";
import { IdentityHook } from "./identity.js";
import { hookBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-identity-hook-");

const DEFAULT: WorkloadIdentity = { Name: "default", Audience: ["nomadproject.io"], Env: true, File: true, ChangeMode: "", ChangeSignal: "", TTL: 0 };
const VAULT: WorkloadIdentity = { Name: "vault", Audience: ["vault.io"], Env: true, File: true, ChangeMode: "", ChangeSignal: "", TTL: 3_600_000_000_000 };

function jobWith(ids: { Identity?: WorkloadIdentity; Identities?: WorkloadIdentity[] }): Job {
  const j = mock.job({ id: "web" });
  const g = j.TaskGroups[0];
  if (g !== undefined) g.Tasks = g.Tasks.map((t) => ({ ...t, ...ids }));
  return j;
}

/** Stands for a signed JWT: the hook and the env carry it as they are given it. */
const SIGNED = { web: "header.default-claims.sig", "web/vault": "header.vault-claims.sig" };

describe("the identity hook", () => {
  it("writes each identity the task asks for to its secrets/, 0600, and again when the servers renew it", async () => {
    const bed = hookBed(jobWith({ Identity: DEFAULT, Identities: [VAULT] }), root(), { SignedIdentities: SIGNED });
    const hook = new IdentityHook(bed.ctx, bed.paths);
    await hook.prerun();
    const secrets = taskPaths(bed.paths.dir, "web").secrets;
    expect(await readFile(join(secrets, "nomad_token"), "utf8")).toBe(SIGNED.web);
    expect(await readFile(join(secrets, "nomad_vault.jwt"), "utf8")).toBe(SIGNED["web/vault"]);
    expect((await stat(join(secrets, "nomad_token"))).mode & 0o777).toBe(0o600);
    expect((await stat(secrets)).mode & 0o777).toBe(0o700);

    const renewed = { ...bed.ctx.alloc(), SignedIdentities: { ...SIGNED, "web/vault": "header.renewed.sig" } };
    bed.setAlloc(renewed);
    hook.update(renewed);
    await expect.poll(() => readFile(join(secrets, "nomad_vault.jwt"), "utf8")).toBe("header.renewed.sig");
  });

  it("acts on a renewed token by its change_mode: restart once, or the signal; the next start's env has the new token", async () => {
    const bed = hookBed(jobWith({ Identity: { ...DEFAULT, ChangeMode: "restart" }, Identities: [{ ...VAULT, ChangeMode: "restart" }] }), root(), { SignedIdentities: SIGNED });
    const hook = new IdentityHook(bed.ctx, bed.paths);
    await hook.prerun();
    const envs: Record<string, string>[] = [];
    const start = bed.driver.start.bind(bed.driver);
    bed.driver.start = (spec) => {
      envs.push({ ...spec.env });
      return start(spec);
    };
    bed.runTasks();
    const web = bed.tasks.get("web");
    await expect.poll(() => web?.state.State).toBe("running");
    const renewed = { ...bed.ctx.alloc(), SignedIdentities: { ...SIGNED, web: "header.renewed-default.sig", "web/vault": "header.renewed.sig" } };
    bed.setAlloc(renewed);
    hook.update(renewed);
    await expect.poll(() => web?.state.Events.filter((e) => e.Type === "Restart Signaled").map((e) => e.Message)).toEqual(["Identity[default]: new token acquired"]);
    await expect.poll(() => web?.state.Events.filter((e) => e.Type === "Started").length).toBe(2);
    expect(envs.map((e) => e.NOMAD_TOKEN_vault)).toEqual([SIGNED["web/vault"], "header.renewed.sig"]);
    expect(envs.at(-1)?.NOMAD_TOKEN).toBe("header.renewed-default.sig");
    // The same tokens sent again are no renewal.
    hook.update(renewed);
    await new Promise((r) => setTimeout(r, 50));
    expect(web?.state.Events.filter((e) => e.Type === "Restart Signaled")).toHaveLength(1);
    await bed.close();

    const sig = hookBed(jobWith({ Identities: [{ ...VAULT, ChangeMode: "signal", ChangeSignal: "SIGHUP" }] }), root(), { SignedIdentities: SIGNED });
    const h2 = new IdentityHook(sig.ctx, sig.paths);
    await h2.prerun();
    sig.runTasks();
    const t = sig.tasks.get("web");
    await expect.poll(() => t?.state.State).toBe("running");
    const again = { ...sig.ctx.alloc(), SignedIdentities: { ...SIGNED, "web/vault": "header.renewed.sig" } };
    sig.setAlloc(again);
    h2.update(again);
    await expect.poll(() => t?.state.Events.filter((e) => e.Type === "Signaling").map((e) => e.Message)).toEqual(["Identity[vault]: new Identity token acquired"]);
    expect(t?.state.Events.some((e) => e.Type === "Restart Signaled")).toBe(false);
    await sig.close();
  });

  it("writes an identity with a filepath there, relative to the task's directory, as Nomad does", async () => {
    const bed = hookBed(jobWith({ Identity: { ...DEFAULT, Filepath: "local/nomad_token" }, Identities: [{ ...VAULT, Filepath: "/local/keys/vault.jwt" }] }), root(), { SignedIdentities: SIGNED });
    await new IdentityHook(bed.ctx, bed.paths).prerun();
    const task = taskPaths(bed.paths.dir, "web");
    expect(await readFile(join(task.dir, "local", "nomad_token"), "utf8")).toBe(SIGNED.web);
    expect(await readFile(join(task.dir, "local", "keys", "vault.jwt"), "utf8")).toBe(SIGNED["web/vault"]);
    expect((await stat(join(task.dir, "local", "nomad_token"))).mode & 0o777).toBe(0o600);
    await expect(stat(join(task.secrets, "nomad_token"))).rejects.toThrow();
  });

  it("puts NOMAD_TOKEN (and NOMAD_TOKEN_<name>) in the env of a task that says env = true only", () => {
    const bed = hookBed(jobWith({ Identity: DEFAULT, Identities: [{ ...VAULT, Env: false }] }), root(), { SignedIdentities: SIGNED });
    const a = bed.ctx.alloc();
    const env = taskSpec(a, bed.ctx.group(), bed.ctx.group().Tasks[0] ?? mock.task(), bed.ctx.node, bed.paths).env;
    expect(env.NOMAD_TOKEN).toBe(SIGNED.web);
    expect(env.NOMAD_TOKEN_vault).toBeUndefined();
    const none = hookBed(mock.job(), root(), { SignedIdentities: SIGNED });
    expect(taskSpec(none.ctx.alloc(), none.ctx.group(), none.ctx.group().Tasks[0] ?? mock.task(), none.ctx.node, none.paths).env.NOMAD_TOKEN).toBeUndefined();
  });

  it("fails the allocation, saying which, when the servers signed no identity a task asks for", async () => {
    const bed = hookBed(jobWith({ Identity: DEFAULT }), root());
    await expect(new IdentityHook(bed.ctx, bed.paths).prerun()).rejects.toThrow('the servers signed no workload identity for task "web" (identity "default")');
  });
});
