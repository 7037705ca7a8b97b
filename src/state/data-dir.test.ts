/**
 * The data dir's secrets against another user of the machine: user `nobody` tries to read
 * the state and the node's secret, as a process of its own (this test runs as root, to start
 * it as nobody and to hand a dir to nobody).
 */
import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, type KVEntry } from "../structs/index.js";
import { prepareDataDir, secureDataDir } from "./data-dir.js";
import { sqliteBackend } from "./sqlite.js";
import { StateStore } from "./store.js";

const NOBODY = 65534;

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempParent(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ruche-datadir-"));
  dirs.push(d);
  // The parent is open to all, as /var/lib is: only the data dir's own modes stand in the way.
  await chmod(d, 0o755);
  return d;
}

/** What `nobody` gets reading `file`: its bytes, or the error cat printed. */
function readAsNobody(file: string): { ok: boolean; out: string } {
  const r = spawnSync("cat", [file], { uid: NOBODY, gid: NOBODY, encoding: "utf8" });
  return { ok: r.status === 0, out: r.status === 0 ? r.stdout : r.stderr };
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

const secret: KVEntry = { Key: "secret/db", Value: Buffer.from("hunter2").toString("base64"), Flags: 0, Session: "", LockIndex: 0, CreateIndex: 0, ModifyIndex: 0 };

describe("the data dir", () => {
  it("is made 0700 with its state 0600: nobody reads the state, even knowing its path", async () => {
    expect(process.getuid?.()).toBe(0);
    const dir = join(await tempParent(), "data");
    await prepareDataDir(dir);
    const store = await StateStore.open(sqliteBackend(dir));
    await store.write((tx) => {
      tx.put("kv", secret);
    });
    expect({ dir: await mode(dir), db: await mode(join(dir, "state.db")), wal: await mode(join(dir, "state.db-wal")), shm: await mode(join(dir, "state.db-shm")) }).toEqual({ dir: 0o700, db: 0o600, wal: 0o600, shm: 0o600 });
    const read = readAsNobody(join(dir, "state.db"));
    expect(read).toEqual({ ok: false, out: expect.stringContaining("Permission denied") as unknown });
    // The dir opened again, the files' own modes still keep nobody out.
    await chmod(dir, 0o755);
    expect(readAsNobody(join(dir, "state.db")).ok).toBe(false);
    expect(readAsNobody(join(dir, "state.db-wal")).ok).toBe(false);
    await store.close();
    // A client's dir is opened for traversal alone (its tasks of other users reach their allocation's directory), silently.
    await chmod(dir, 0o700);
    expect(await secureDataDir(dir, { traversable: true })).toEqual([]);
    expect(await mode(dir)).toBe(0o711);
    expect(readAsNobody(join(dir, "state.db")).ok).toBe(false);
  });

  it("is closed at start when an older agent left it open, and says what it closed", async () => {
    const dir = join(await tempParent(), "data");
    await mkdir(join(dir, "client"), { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
    await writeFile(join(dir, "state.db"), "state", { mode: 0o644 });
    await writeFile(join(dir, "client", "node.json"), '{"ID":"n","SecretID":"s3cr3t"}', { mode: 0o644 });
    await mkdir(join(dir, "alloc"), { mode: 0o755 });
    expect(readAsNobody(join(dir, "client", "node.json"))).toEqual({ ok: true, out: '{"ID":"n","SecretID":"s3cr3t"}' });

    const closed = await secureDataDir(dir, { traversable: true });
    expect(closed).toEqual([
      { path: dir, was: 0o755, now: 0o711 },
      { path: join(dir, "client"), was: 0o755, now: 0o700 },
      { path: join(dir, "state.db"), was: 0o644, now: 0o600 },
      { path: join(dir, "client", "node.json"), was: 0o644, now: 0o600 },
    ]);
    expect(readAsNobody(join(dir, "client", "node.json")).ok).toBe(false);
    expect(readAsNobody(join(dir, "state.db")).ok).toBe(false);
    // A task of another user still reaches its allocation's directory on a client; a server's dir is closed to all.
    expect(await mode(join(dir, "alloc"))).toBe(0o755);
    expect(await secureDataDir(dir, { traversable: true })).toEqual([]);
    expect(await secureDataDir(dir, { traversable: false })).toEqual([{ path: dir, was: 0o711, now: 0o700 }]);
  });

  it("is refused when another user owns it, naming the owner and what to do", async () => {
    const dir = join(await tempParent(), "data");
    await prepareDataDir(dir);
    await chown(dir, NOBODY, NOBODY);
    const err = await secureDataDir(dir, { traversable: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: ErrorCode.Forbidden,
      message: `${dir} belongs to user ${NOBODY}, not to the agent's user 0: another user may read or replace the agent's state and secrets there. Give it to the agent's user (chown -R 0 ${dir}) or use another data dir.`,
    });
    await chown(dir, 0, 0);
    await writeFile(join(dir, "state.db"), "", { mode: 0o600 });
    await chown(join(dir, "state.db"), NOBODY, NOBODY);
    await expect(secureDataDir(dir, { traversable: false })).rejects.toThrow(`${join(dir, "state.db")} belongs to user ${NOBODY}`);
  });
});
