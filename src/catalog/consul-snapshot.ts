import { createHash, randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { StateStore, TableName } from "../state/index.js";
import { ErrorCode, RucheError } from "../structs/index.js";

/**
 * Consul's snapshots (`GET /v1/snapshot` saves, `PUT /v1/snapshot` restores) of what the
 * Consul face holds: the KV (with its sessions and etcd's leases on it), the services and
 * nodes registered directly, and the prepared queries. The archive is Consul's envelope — a
 * gzipped tar of `meta.json`, `state.bin` and `SHA256SUMS` (Consul's `snapshot/archive.go`), so
 * that `consul snapshot save` verifies it — whose `state.bin` is Ruche's (JSON, not Consul's raft
 * log): a Consul server's snapshot is refused on restore, named, and so is one whose sums do
 * not match. Restoring replaces those tables whole in one transaction; the rows get new
 * indexes (the store's, at the restore).
 */
export const SNAPSHOT_TABLES = ["kv", "kvExpiry", "sessions", "services", "preparedQueries"] as const satisfies readonly TableName[];

const FORMAT = "ruche-consul-snapshot";
const VERSION = 1;

interface SnapshotState {
  Format: typeof FORMAT;
  Version: number;
  Index: number;
  Tables: Partial<Record<(typeof SNAPSHOT_TABLES)[number], unknown[]>>;
}

export class ConsulSnapshots {
  constructor(private readonly store: StateStore) {}

  /** The archive of the tables at the store's index now, and that index. */
  save(): { archive: Buffer; index: number } {
    const index = this.store.index;
    const tables: SnapshotState["Tables"] = {};
    // The store's memory between two commits: one consistent cut of every table.
    for (const t of SNAPSHOT_TABLES) tables[t] = this.rows(t);
    const state: SnapshotState = { Format: FORMAT, Version: VERSION, Index: index, Tables: tables };
    const stateBin = Buffer.from(JSON.stringify(state));
    const meta = Buffer.from(JSON.stringify({ Version: 1, ID: `ruche-${index}-${randomUUID().slice(0, 8)}`, Index: index, Term: 1, Peers: null, Configuration: { Servers: [] }, ConfigurationIndex: 0, Size: stateBin.length }));
    const sums = Buffer.from(`${sha256(meta)}  meta.json\n${sha256(stateBin)}  state.bin\n`);
    return { archive: gzipSync(tar([["meta.json", meta], ["state.bin", stateBin], ["SHA256SUMS", sums]])), index };
  }

  /** Replaces the tables with the archive's; throws RUCHE_BAD_REQUEST saying what is wrong with an archive it cannot restore. */
  async restore(archive: Buffer): Promise<number> {
    const state = readArchive(archive);
    const { index } = await this.store.write((tx) => {
      for (const t of SNAPSHOT_TABLES) {
        for (const row of tx.list(t, "")) tx.delete(t, keyOf(t, row));
        for (const row of state.Tables[t] ?? []) tx.put(t, row as never);
      }
    });
    return index;
  }

  private rows(t: (typeof SNAPSHOT_TABLES)[number]): unknown[] {
    switch (t) {
      case "kv":
        return this.store.kvList("");
      case "sessions":
        return this.store.sessions();
      case "services":
        return this.store.registeredServices();
      case "preparedQueries":
        return this.store.preparedQueries();
      case "kvExpiry":
        return this.store.kvExpiries();
      default: {
        const _: never = t;
        return _;
      }
    }
  }
}

/** A row's key in its table, as the store keys it (`state/types.ts`). */
function keyOf(t: (typeof SNAPSHOT_TABLES)[number], row: unknown): string {
  const r = row as Record<string, unknown>;
  switch (t) {
    case "kv":
    case "kvExpiry":
      return String(r.Key);
    case "sessions":
    case "preparedQueries":
      return String(r.ID);
    case "services":
      return `${String(r.NodeID)}/${String(r.ID)}`;
    default: {
      const _: never = t;
      return _;
    }
  }
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** What an archive holds, checked: Consul's envelope, its sums, and Ruche's state in it. */
function readArchive(archive: Buffer): SnapshotState {
  const bad = (why: string): RucheError => new RucheError(ErrorCode.BadRequest, `Snapshot restore failed: ${why}`);
  let raw: Buffer;
  try {
    raw = gunzipSync(archive);
  } catch {
    throw bad("the body is not a gzipped snapshot archive (as `consul snapshot save` or GET /v1/snapshot writes it)");
  }
  const files = untar(raw);
  const meta = files.get("meta.json");
  const stateBin = files.get("state.bin");
  const sums = files.get("SHA256SUMS");
  if (meta === undefined || stateBin === undefined || sums === undefined) throw bad("the archive lacks meta.json, state.bin or SHA256SUMS");
  for (const line of sums.toString("utf8").split("\n")) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line.trim());
    if (m === null) continue;
    const f = files.get(m[2] ?? "");
    if (f === undefined || sha256(f) !== m[1]) throw bad(`the SHA256 of ${m[2] ?? "?"} does not match SHA256SUMS: the archive is damaged`);
  }
  let state: unknown;
  try {
    state = JSON.parse(stateBin.toString("utf8"));
  } catch {
    throw bad("state.bin is a Consul server's raft snapshot, not Ruche's: Ruche restores the snapshots it saved (GET /v1/snapshot), not a Consul server's");
  }
  const s = (typeof state === "object" && state !== null ? state : {}) as Record<string, unknown>;
  const tables = s.Tables;
  if (s.Format !== FORMAT || typeof tables !== "object" || tables === null) throw bad("state.bin is not a Ruche snapshot");
  if (s.Version !== VERSION) throw bad(`the snapshot's version ${JSON.stringify(s.Version)} is not one this Ruche reads (${VERSION})`);
  for (const [t, rows] of Object.entries(tables)) {
    if (!(SNAPSHOT_TABLES as readonly string[]).includes(t)) throw bad(`the snapshot holds a table ${JSON.stringify(t)} that Consul's snapshots do not`);
    if (!Array.isArray(rows) || !rows.every((r) => typeof r === "object" && r !== null && !Array.isArray(r))) throw bad(`the snapshot's ${t} is not a list of rows`);
  }
  return s as unknown as SnapshotState;
}

/** A ustar archive of regular files. */
function tar(files: readonly [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const mtime = Math.floor(Date.now() / 1000);
  for (const [name, data] of files) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, "utf8");
    h.write("0000644\0", 100, 8, "ascii");
    h.write("0000000\0", 108, 8, "ascii");
    h.write("0000000\0", 116, 8, "ascii");
    h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
    h.write(`${mtime.toString(8).padStart(11, "0")}\0`, 136, 12, "ascii");
    h.write("        ", 148, 8, "ascii");
    h.write("0", 156, 1, "ascii");
    h.write("ustar\0", 257, 6, "ascii");
    h.write("00", 263, 2, "ascii");
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The regular files of a tar archive, by name. */
function untar(raw: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= raw.length) {
    const h = raw.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(h.subarray(124, 136).toString("ascii").replace(/\0.*$/s, "").trim() || "0", 8);
    const type = String.fromCharCode(h[156] ?? 0);
    off += 512;
    if (!Number.isSafeInteger(size) || off + size > raw.length) throw new RucheError(ErrorCode.BadRequest, "Snapshot restore failed: the tar archive is truncated");
    if (type === "0" || type === "\0") out.set(name, Buffer.from(raw.subarray(off, off + size)));
    off += size + ((512 - (size % 512)) % 512);
  }
  return out;
}
