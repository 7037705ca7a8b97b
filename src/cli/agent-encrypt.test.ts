import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "./commands/agent.js";
import { runCli } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-cli-encrypt-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const server = ["-server", "-data-dir", "/tmp/x"];

describe("a server's cluster key", () => {
  it("comes from -encrypt or server { encrypt }, as Nomad's gossip key does", async () => {
    const key = Buffer.alloc(32, 5).toString("base64");
    expect((await agentConfigFromArgs([...server, "-encrypt", key], dir)).config.encrypt).toBe(key);
    writeFileSync(join(dir, "encrypt.hcl"), `server {\n  enabled = true\n  encrypt = "${key}"\n}\n`);
    expect((await agentConfigFromArgs(["-data-dir", "/tmp/x", "-config", "encrypt.hcl"], dir)).config.encrypt).toBe(key);
    expect((await agentConfigFromArgs(server, dir)).config.encrypt).toBeUndefined();
  });

  it("is refused when it is not 32 bytes of base64, without echoing it, and on a client", async () => {
    const short = Buffer.alloc(16, 5).toString("base64");
    const err = await agentConfigFromArgs([...server, "-encrypt", short], dir).catch((e: unknown) => String(e));
    expect(err).toMatch(/-encrypt is 16 bytes; the cluster key is 32 bytes \(AES-256\): `ruche operator keygen` prints one/);
    expect(err).not.toContain(short);
    await expect(agentConfigFromArgs([...server, "-encrypt", "not a key!"], dir)).rejects.toThrow(/-encrypt is not base64/);
    await expect(agentConfigFromArgs(["-client", "-data-dir", "/tmp/x", "-servers", "10.0.0.1:4646", "-encrypt", Buffer.alloc(32).toString("base64")], dir)).rejects.toThrow(/-encrypt .* is a server setting/);
  });

  it("ruche operator keygen (and Nomad's operator gossip keyring generate) prints a new one", async () => {
    const keys: string[] = [];
    for (const argv of [["operator", "keygen"], ["operator", "gossip", "keyring", "generate"]]) {
      let out = "";
      const code = await runCli(argv, { out: (t) => (out += t), err: () => undefined, env: {}, cwd: dir });
      expect(code).toBe(0);
      expect(Buffer.from(out.trim(), "base64")).toHaveLength(32);
      keys.push(out.trim());
    }
    expect(keys[0]).not.toBe(keys[1]);
  });
});
