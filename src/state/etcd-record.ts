import type { Etcd3, Watcher } from "etcd3";
import { regionPrefix } from "./etcd.js";

/**
 * One well-known record of a region on etcd, outside the store's tables and its commits:
 * `/ruche/<region>/<name>`, read and written whole by any server, leader or not (the cluster
 * CA's, `pki/ca`: a server needs it before it can serve, so before there is a leader).
 * `create` is one etcd transaction that writes it only where there is none (create revision
 * 0); `replace` one that writes it only while its mod revision is still `rev`. The store's
 * backend skips keys that are not a table's (`etcd.ts`), so the record is never a row.
 */
export interface EtcdRecord {
  readonly where: string;
  read(): Promise<{ value: string; rev: string } | null>;
  create(value: string): Promise<boolean>;
  replace(value: string, rev: string): Promise<boolean>;
  /** Calls `onChange` when the record is written (by any server), and when the watch connects again (a write may have gone by meanwhile). */
  watch(onChange: () => void): () => Promise<void>;
}

export function etcdRecord(client: Etcd3, region: string, name: string): EtcdRecord {
  const key = `${regionPrefix(region)}${name}`;
  const k = (): Buffer => Buffer.from(key);
  return {
    where: `etcd key ${key}`,
    read: async () => {
      const res = await client.kv.range({ key: k() });
      const kv = res.kvs[0];
      return kv === undefined ? null : { value: kv.value.toString("utf8"), rev: kv.mod_revision };
    },
    create: async (value) => {
      const res = await client.kv.txn({
        compare: [{ key: k(), target: "Create", result: "Equal", create_revision: "0" }] as never,
        success: [{ request_put: { key: k(), value: Buffer.from(value) } }],
        failure: [],
      });
      return res.succeeded;
    },
    replace: async (value, rev) => {
      const res = await client.kv.txn({
        compare: [{ key: k(), target: "Mod", result: "Equal", mod_revision: rev }] as never,
        success: [{ request_put: { key: k(), value: Buffer.from(value) } }],
        failure: [],
      });
      return res.succeeded;
    },
    watch: (onChange) => {
      let stopped = false;
      // `watcher()` rather than `create()`: the handlers are on before the first response.
      const w: Watcher = client.watch().key(key).watcher();
      w.on("put", () => {
        if (!stopped) onChange();
      });
      w.on("connected", () => {
        if (!stopped) onChange();
      });
      w.on("error", () => undefined);
      return async () => {
        stopped = true;
        await w.cancel().catch(() => undefined);
      };
    },
  };
}
