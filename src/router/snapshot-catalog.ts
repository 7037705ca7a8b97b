import type { CatalogNode, CatalogReader, ServiceInstance } from "../catalog/index.js";
import type { CatalogSnapshot } from "./table.js";

/**
 * A catalog made of the snapshots it is handed: what a router worker process reads, fed
 * by the process that follows the real catalog. Its `wait` resolves when a newer snapshot
 * arrives.
 */
export class SnapshotCatalog implements CatalogReader {
  private snap: CatalogSnapshot = { index: 1, instances: [] };
  private waiters = new Set<() => void>();

  constructor(private readonly dc: string) {}

  set(snap: CatalogSnapshot): void {
    this.snap = snap;
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
    return this.snap.instances.filter((i) => i.Service === service);
  }

  services(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const i of this.snap.instances) out[i.Service] = [...new Set([...(out[i.Service] ?? []), ...i.Tags])];
    return out;
  }

  nodes(): CatalogNode[] {
    return [...new Map(this.snap.instances.map((i) => [i.node.ID, i.node])).values()];
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
