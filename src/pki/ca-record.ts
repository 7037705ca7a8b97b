import { createHash } from "node:crypto";
import { open, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { caPaths, privateDir, readIfThere } from "./ca.js";

/**
 * One well-known record of the cluster's state, read and written whole: the cluster CA's
 * (`CaRecord`, as JSON). `rev` is its version as the place that keeps it counts them: `create`
 * writes it only where there is none (false: another server made one first), `replace` only
 * when it is still at `rev` (false: it changed meanwhile). On etcd (`state.etcdRecord`) every
 * server shares it; a single server keeps it in its data dir (`fileCaSlot`).
 */
export interface RecordSlot {
  /** Where it is kept, for messages: "etcd key /ruche/global/pki/ca", a file's path. */
  readonly where: string;
  read(): Promise<{ value: string; rev: string } | null>;
  create(value: string): Promise<boolean>;
  replace(value: string, rev: string): Promise<boolean>;
  /** Calls `onChange` when another server writes it, until the returned function is called. Absent: only this server writes it. */
  watch?(onChange: () => void): () => Promise<void>;
}

/**
 * The cluster CA as the state keeps it: the current CA's certificate in clear and its key
 * sealed under the cluster key (AES-256-GCM, bound to the certificate's digest), and during a
 * rotation the previous root and the current CA cross-signed by it.
 */
export interface CaRecord {
  Version: 1;
  /** The CA that signs now: its certificate (PEM), its PKCS#8 key sealed (`seal`). */
  Current: { Cert: string; Key: string };
  /** During a rotation: the root before the current one (PEM); else null. */
  Previous: string | null;
  /** During a rotation: the current CA's certificate signed by the previous one (PEM); else null. */
  Cross: string | null;
}

/** A record read back from the state, checked once here; what does not hold together is refused naming `where`. */
export function parseCaRecord(text: string, where: string): CaRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new RucheError(ErrorCode.Internal, `the cluster CA's record (${where}) is not JSON: ${errorMessage(err)}`, { cause: err, path: where });
  }
  const bad = (what: string): RucheError => new RucheError(ErrorCode.Internal, `the cluster CA's record (${where}) is damaged: ${what}`, { path: where });
  if (typeof v !== "object" || v === null) throw bad("not an object");
  const r = v as Record<string, unknown>;
  if (r.Version !== 1) throw bad(`Version ${JSON.stringify(r.Version)}, this server reads 1`);
  const cur = r.Current as Record<string, unknown> | null | undefined;
  if (typeof cur !== "object" || cur === null || typeof cur.Cert !== "string" || typeof cur.Key !== "string") throw bad("Current must hold Cert and Key");
  const pemOrNull = (x: unknown, name: string): string | null => {
    if (x === null || x === undefined) return null;
    if (typeof x !== "string") throw bad(`${name} must be a PEM text or null`);
    return x;
  };
  return { Version: 1, Current: { Cert: cur.Cert, Key: cur.Key }, Previous: pemOrNull(r.Previous, "Previous"), Cross: pemOrNull(r.Cross, "Cross") };
}

/** The cluster CA's record of a server that keeps its state alone: `<data_dir>/tls/ca-record.json` (0600); its version is its content's SHA-256. */
export function fileCaSlot(dataDir: string): RecordSlot {
  const dir = caPaths(dataDir).dir;
  const path = join(dir, "ca-record.json");
  const rev = (text: string): string => createHash("sha256").update(text).digest("hex");
  return {
    where: path,
    read: async () => {
      const text = await readIfThere(path);
      return text === null ? null : { value: text, rev: rev(text) };
    },
    create: async (value) => {
      await privateDir(dir);
      try {
        const f = await open(path, "wx", 0o600);
        try {
          await f.writeFile(value);
          await f.sync();
        } finally {
          await f.close();
        }
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw err;
      }
    },
    replace: async (value, at) => {
      const now = await readIfThere(path);
      if (now === null || rev(now) !== at) return false;
      const tmp = `${path}.tmp`;
      await writeFile(tmp, value, { mode: 0o600 });
      await rename(tmp, path);
      return true;
    },
  };
}
