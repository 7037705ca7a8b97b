import { Etcd3 } from "etcd3";
import { afterAll, beforeAll } from "vitest";
import { startEtcd, type EtcdTestCluster } from "./etcd-testing.js";

/**
 * For a test file: one member of Debian's etcd-server started before its tests and a client
 * of it, both stopped after them. Read `client` and `cluster` inside tests (or hooks), once
 * they have started.
 */
export function oneEtcdMember(): { readonly client: Etcd3; readonly cluster: EtcdTestCluster } {
  let cluster: EtcdTestCluster | undefined;
  let client: Etcd3 | undefined;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("the etcd member is not started yet: read it inside a test or a hook");
    return v;
  };
  return {
    get client() {
      return started(client);
    },
    get cluster() {
      return started(cluster);
    },
  };
}

/** Resolves once `ok()` holds, checked every 20 ms; rejects naming `what` after `ms`. */
export function waitFor(ok: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (ok()) resolve();
      else if (Date.now() > end) reject(new Error(`not within ${ms} ms: ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}
