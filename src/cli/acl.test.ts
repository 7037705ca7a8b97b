/**
 * `ruche acl ...` against a real HTTP API in this process (memory state, port 0 of
 * 127.0.0.1), through `runCli`: bootstrap, policies, tokens, and the token every command
 * sends (`-token`, `RUCHE_TOKEN`, `NOMAD_TOKEN`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { runCli, type IO } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let dir: string;

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: http.address, ...env }, cwd: dir };
  const code = await runCli(argv, io);
  return { code, out, err };
}

/** The `Key = value` lines of a token block. */
function kv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((l) => {
        const i = l.indexOf(" = ");
        return [l.slice(0, i).trim(), l.slice(i + 3)];
      }),
  );
}

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  dir = mkdtempSync(join(tmpdir(), "ruche-acl-cli-"));
});

afterAll(async () => {
  await http.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

let management = "";

describe("ruche acl", () => {
  it("bootstraps and prints Nomad's token block; a second time fails with the reset index", async () => {
    const r = await cli(["acl", "bootstrap"]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines.map((l) => l.split(" = ")[0])).toEqual(["Accessor ID ", "Secret ID   ", "Name        ", "Type        ", "Global      ", "Create Time ", "Expiry Time ", "Create Index", "Modify Index", "Policies    "]);
    const t = kv(r.out);
    expect(t).toMatchObject({ Name: "Bootstrap Token", Type: "management", Global: "true", "Expiry Time": "<none>", Policies: "n/a" });
    expect(t["Create Time"]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$/);
    expect(t["Secret ID"]).toBe(store.aclToken(t["Accessor ID"] ?? "")?.SecretID);
    management = t["Secret ID"] ?? "";

    const again = await cli(["acl", "bootstrap"]);
    expect(again.code).toBe(1);
    expect(again.err).toContain(`ACL bootstrap already done (reset index: ${t["Modify Index"] ?? ""})`);
  });

  it("applies a policy from a file, lists it, shows it and deletes it", async () => {
    writeFileSync(join(dir, "ops.hcl"), 'node {\n  policy = "read"\n}\nkey_prefix "app/" {\n  policy = "write"\n}\n');
    const applied = await cli(["acl", "policy", "apply", "-description", "operators", "ops", "ops.hcl"]);
    expect([applied.code, applied.out]).toEqual([0, 'Successfully wrote "ops" ACL policy!\n']);
    const list = await cli(["acl", "policy", "list"]);
    expect(list.out).toBe("Name  Description\nops   operators\n");
    const info = await cli(["acl", "policy", "info", "ops"]);
    expect(info.out).toBe(
      `Name        = ops\nDescription = operators\nCreateIndex = ${store.aclPolicy("ops")?.CreateIndex ?? ""}\nModifyIndex = ${store.aclPolicy("ops")?.ModifyIndex ?? ""}\n\nRules\n\nnode {\n  policy = "read"\n}\nkey_prefix "app/" {\n  policy = "write"\n}\n`,
    );
    writeFileSync(join(dir, "gone.hcl"), 'agent {\n  policy = "read"\n}\n');
    await cli(["acl", "policy", "apply", "gone", "gone.hcl"]);
    expect((await cli(["acl", "policy", "delete", "gone"])).out).toBe('Successfully deleted "gone" ACL policy!\n');
    expect((await cli(["acl", "policy", "info", "gone"])).code).toBe(1);
  });

  it("checks a policy file before sending it, every mistake at its file:line:col", async () => {
    writeFileSync(join(dir, "bad.hcl"), 'namespace "default" {\n  policy = "raed"\n}\nquota {\n  policy = "read"\n}\n');
    const r = await cli(["acl", "policy", "apply", "bad", "bad.hcl"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('bad.hcl:2:3: namespace["default"].policy: policy must be one of "deny", "read", "write", "scale", got "raed"; did you mean "read"?');
    expect(r.err).toContain("bad.hcl:4:1: quota: resource quotas are not offered by Ruche");
    expect(store.aclPolicy("bad")).toBeUndefined();
  });

  it("creates, lists, shows, updates and deletes tokens", async () => {
    const created = await cli(["acl", "token", "create", "-name", "ci", "-policy", "ops", "-ttl", "2h"]);
    expect(created.code).toBe(0);
    const t = kv(created.out);
    expect(t).toMatchObject({ Name: "ci", Type: "client", Global: "false", Policies: "[ops]" });
    expect(t["Secret ID"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(t["Expiry Time"]).toMatch(/ \+0000 UTC$/);
    const accessor = t["Accessor ID"] ?? "";

    const list = await cli(["acl", "token", "list"]);
    const rows = list.out.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^Name\s+Type\s+Global\s+Accessor ID\s+Expired$/);
    expect(rows.find((l) => l.startsWith("ci "))).toMatch(new RegExp(`^ci\\s+client\\s+false\\s+${accessor}\\s+false$`));
    expect(list.out).not.toContain(t["Secret ID"]);

    // Its secret: shown to a management token, hidden from a request with none.
    expect(kv((await cli(["acl", "token", "info", accessor], { NOMAD_TOKEN: management })).out)["Secret ID"]).toBe(t["Secret ID"]);
    expect(kv((await cli(["acl", "token", "info", accessor])).out)["Secret ID"]).toBe("<hidden>");

    const up = await cli(["acl", "token", "update", "-name", "ci-2", accessor]);
    expect(kv(up.out)).toMatchObject({ Name: "ci-2", Policies: "[ops]", "Secret ID": t["Secret ID"] });
    expect((await cli(["acl", "token", "create", "-policy", "nope"])).err).toContain('ACL policy "nope" not found');
    expect((await cli(["acl", "token", "create", "-type", "root"])).err).toContain('-type must be "client" or "management"');

    expect((await cli(["acl", "token", "delete", accessor])).out).toBe(`Token ${accessor} successfully deleted\n`);
    expect(store.aclToken(accessor)).toBeUndefined();
  });

  it("sends -token, else RUCHE_TOKEN, else NOMAD_TOKEN, as the request's token", async () => {
    const made = kv((await cli(["acl", "token", "create", "-name", "mine", "-policy", "ops"])).out);
    const other = kv((await cli(["acl", "token", "create", "-name", "other", "-policy", "ops"])).out);
    const selfName = async (argv: string[], env: Record<string, string>): Promise<string | undefined> => kv((await cli(["acl", "token", "self", ...argv], env)).out).Name;
    expect(await selfName(["-token", made["Secret ID"] ?? ""], { RUCHE_TOKEN: other["Secret ID"] ?? "" })).toBe("mine");
    expect(await selfName([], { RUCHE_TOKEN: made["Secret ID"] ?? "", NOMAD_TOKEN: other["Secret ID"] ?? "" })).toBe("mine");
    expect(await selfName([], { NOMAD_TOKEN: other["Secret ID"] ?? "" })).toBe("other");
    // Every command takes -token: one that is not about ACLs at all.
    expect((await cli(["job", "status", "-token", made["Secret ID"] ?? ""])).code).toBe(0);
  });

  it("sets the anonymous token's policies", async () => {
    const r = await cli(["acl", "token", "update", "-policy", "ops", "anonymous"]);
    expect(r.code).toBe(0);
    expect(kv(r.out)).toMatchObject({ "Accessor ID": "anonymous", Name: "Anonymous Token", Policies: "[ops]", "Secret ID": "<hidden>" });
    expect(store.aclToken("anonymous")?.Policies).toEqual(["ops"]);
  });
});
