import type { CatalogNode, CatalogReader, CatalogSnapshot, ServiceInstance } from "../catalog/index.js";
import { instanceProblem } from "../structs/index.js";

/**
 * A catalog made of the snapshots it is handed: what a router worker process reads, fed
 * by the process that follows the real catalog, and what a router without the server role
 * keeps of the servers' (`RemoteCatalog`). Its `wait` resolves when a newer snapshot
 * arrives. An instance that is not one (`instanceProblem`) is left out: its senders check
 * and log what they send, and this one reads nothing it has not checked.
 */
export class SnapshotCatalog implements CatalogReader {
  private snap: CatalogSnapshot = { index: 1, instances: [] };
  private byService = new Map<string, ServiceInstance[]>();
  private waiters = new Set<() => void>();

  constructor(private readonly dc: string) {}

  set(snap: CatalogSnapshot): void {
    const instances = snap.instances.filter((i) => instanceProblem(i) === null);
    this.snap = instances.length === snap.instances.length ? snap : { ...snap, instances };
    const byService = new Map<string, ServiceInstance[]>();
    for (const i of instances) {
      const list = byService.get(i.Service);
      if (list === undefined) byService.set(i.Service, [i]);
      else list.push(i);
    }
    this.byService = byService;
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  index(): number {
    return Math.max(1, this.snap.index);
  }

  datacenter(): string {
    return this.dc;
  }

  instances(service: string): ServiceInstance[] {
    return this.byService.get(service) ?? [];
  }

  services(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [name, list] of this.byService) out[name] = [...new Set(list.flatMap((i) => i.Tags))];
    return out;
  }

  nodes(): CatalogNode[] {
    return [...new Map(this.snap.instances.map((i) => [i.node.ID, i.node])).values()];
  }

  nodeApis(): readonly string[] {
    return this.snap.nodeApis ?? [];
  }

  wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.index() > minIndex || signal?.aborted === true) return Promise.resolve(this.index());
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve(this.index());
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.add(done);
    });
  }
}
