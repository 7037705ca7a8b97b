import type { CatalogNode, CatalogReader, HealthCheck, HealthStatus, ServiceInstance } from "../catalog/index.js";

/**
 * An in-memory CatalogReader for the DNS server's tests: the catalog's own implementation
 * needs a state store, and DNS only reads through the interface.
 */
export class FakeCatalog implements CatalogReader {
  readonly list: ServiceInstance[] = [];
  readonly nodeList: CatalogNode[] = [];
  constructor(private readonly dc = "dc1") {}
  index(): number {
    return 1;
  }
  datacenter(): string {
    return this.dc;
  }
  instances(service: string): ServiceInstance[] {
    return this.list.filter((i) => i.Service === service);
  }
  services(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const i of this.list) out[i.Service] = [...new Set([...(out[i.Service] ?? []), ...i.Tags])];
    return out;
  }
  nodes(): CatalogNode[] {
    return this.nodeList;
  }
  wait(minIndex: number): Promise<number> {
    return Promise.resolve(minIndex + 1);
  }
  node(name: string, address: string): CatalogNode {
    const n: CatalogNode = { ID: name, Node: name, Address: address, Datacenter: this.dc, Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
    this.nodeList.push(n);
    return n;
  }
  add(service: string, node: CatalogNode, opts: { port: number; address?: string; tags?: string[]; status?: HealthStatus; weights?: { Passing: number; Warning: number } }): void {
    const check: HealthCheck = {
      Node: node.Node,
      CheckID: `service:${service}`,
      Name: service,
      Status: opts.status ?? "passing",
      Notes: "",
      Output: "",
      ServiceID: `${service}-${this.list.length}`,
      ServiceName: service,
      ServiceTags: opts.tags ?? [],
      Type: "http",
      CreateIndex: 1,
      ModifyIndex: 1,
    };
    this.list.push({
      ID: `${service}-${this.list.length}`,
      Service: service,
      Tags: opts.tags ?? [],
      Address: opts.address ?? "",
      Port: opts.port,
      Meta: {},
      node,
      checks: [check],
      ...(opts.weights === undefined ? {} : { details: { Weights: opts.weights } }),
      CreateIndex: 1,
      ModifyIndex: 1,
    });
  }
}
