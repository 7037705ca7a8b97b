/**
 * Test support for tests that run a client (not used by Ruche itself): the configuration of
 * one test node. The test gives it a transport to a real server in its process
 * (`agent`'s `inProcessTransport`, with `server/testing.ts`).
 */
import type { Driver } from "../drivers/index.js";
import { silentLogger } from "../structs/index.js";
import type { ClientConfig } from "./client.js";

/** Node "n1" in dc1 on 127.0.0.1, nothing reserved, with these drivers; its state in `dataDir`; silent. */
export function testClientConfig(dataDir: string, drivers: readonly Driver[]): ClientConfig {
  return {
    dataDir,
    name: "n1",
    datacenter: "dc1",
    nodeClass: "",
    nodePool: "default",
    meta: {},
    ip: "127.0.0.1",
    httpAddr: "",
    minDynamicPort: 20000,
    maxDynamicPort: 32000,
    reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" },
    drivers,
    log: silentLogger,
  };
}
