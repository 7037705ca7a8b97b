/**
 * Test support for the router's tests (not used by Ruche itself): what a test starts is
 * closed after it, newest first; backends listen on 127.0.0.1 port 0; a catalog instance
 * routed by its Host.
 */
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach } from "vitest";
import type { ServiceInstance } from "../catalog/index.js";

export type Closer = () => Promise<void> | void;

/** The list of what a test started, each closed after the test, newest first. Call at the top level of a test file. */
export function closedAfterEach(): Closer[] {
  const closers: Closer[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return closers;
}

/** A node:http backend on 127.0.0.1 port 0, closed with its connections by `closers`; its port. */
export async function httpBackend(closers: Closer[], handler: RequestListener): Promise<number> {
  const http = createServer(handler);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => {
          resolve();
        });
      }),
  );
  return (http.address() as AddressInfo).port;
}

/** An instance of `service` (its ID too) on 127.0.0.1:`port`, on node "n" of dc1, routed by `Host: <service>`. */
export function instance(service: string, port: number): ServiceInstance {
  const node = { ID: "n", Node: "n", Address: "127.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  return { ID: service, Service: service, Tags: [`traefik.frontend.rule=Host:${service}`], Address: "127.0.0.1", Port: port, Meta: {}, node, checks: [], CreateIndex: 1, ModifyIndex: 1 };
}
