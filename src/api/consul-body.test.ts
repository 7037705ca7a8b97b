import { describe, expect, it } from "vitest";
import type { AclLookups } from "./acl-routes-table.js";
import { routeEntry } from "./acl-routes-table.js";
import type { Request } from "./http.js";
import { CHECK_UPDATE, consulBody, consulBodyList, SERVICE_DEFINITION, SESSION, TXN_OP } from "./consul-body.js";

describe("consulBody", () => {
  it("reads keys case-insensitively, as Go's encoding/json does", () => {
    expect(consulBody({ name: "lock", ttl: "10s", behavior: "delete", lockdelay: 0, node: "n1", checks: ["serfHealth"] }, SESSION)).toEqual({ Name: "lock", TTL: "10s", Behavior: "delete", LockDelay: 0, Node: "n1", Checks: ["serfHealth"] });
    expect(consulBody({ STATUS: "passing", output: "ok" }, CHECK_UPDATE)).toEqual({ Status: "passing", Output: "ok" });
  });

  it("lets the later of two spellings win, and keeps unknown keys as sent", () => {
    expect(consulBody({ Name: "a", name: "b", Extra: 1 }, SESSION)).toEqual({ Name: "b", Extra: 1 });
  });

  it("recurses into nested structs and lists, never into a map's keys", () => {
    const out = consulBody({ name: "web", meta: { Version: "1", env_name: "x" }, check: { ttl: "10s", deregister_critical_service_after: "1m" }, checks: [{ http: "http://x", interval: "5s" }], tagged_addresses: { lan: "1.2.3.4" } }, SERVICE_DEFINITION);
    expect(out).toEqual({
      Name: "web",
      Meta: { Version: "1", env_name: "x" },
      Check: { TTL: "10s", DeregisterCriticalServiceAfter: "1m" },
      Checks: [{ HTTP: "http://x", Interval: "5s" }],
      TaggedAddresses: { lan: "1.2.3.4" },
    });
  });

  it("takes an alias only where the field itself is not given", () => {
    expect(consulBody({ EnableTagOverride: true, enable_tag_override: false }, SERVICE_DEFINITION)).toEqual({ EnableTagOverride: true });
    expect(consulBody({ enable_tag_override: true }, SERVICE_DEFINITION)).toEqual({ EnableTagOverride: true });
  });

  it("reads a transaction's operations", () => {
    expect(consulBodyList([{ kv: { verb: "set", key: "a", value: "eA==" } }], TXN_OP)).toEqual([{ KV: { Verb: "set", Key: "a", Value: "eA==" } }]);
  });

  it("refuses what is not an object, saying where", () => {
    expect(consulBody(undefined, SESSION)).toBeUndefined();
    expect(() => consulBody("x", SESSION)).toThrow(/Request decode failed: the body must be a JSON object/);
    expect(() => consulBody({ checks: "x" }, SERVICE_DEFINITION)).toThrow(/Checks must be a list/);
    expect(() => consulBodyList([{ kv: 3 }], TXN_OP)).toThrow(/\[0\]\.KV must be a JSON object/);
  });
});

describe("the ACL door", () => {
  // The door must name what the route will act on: a lower-case body is read the same way there.
  const need = (route: string, body: unknown): unknown => {
    const entry = routeEntry(route, "consul");
    if (entry === undefined) throw new Error(`no ACL entry for ${route}`);
    const req = { body, params: {}, query: new URLSearchParams() } as unknown as Request;
    const look = { localNodeName: () => "local" } as unknown as AclLookups;
    return typeof entry.need === "function" ? entry.need(req, look) : entry.need;
  };

  it("checks session write on the node a lower-case body names", () => {
    expect(need("PUT /v1/session/create", { node: "other" })).toMatchObject({ name: "other", level: "write" });
    expect(need("PUT /v1/session/create", { name: "x" })).toMatchObject({ name: "local" });
  });

  it("checks service write on the name a lower-case registration carries", () => {
    expect(need("PUT /v1/agent/service/register", { name: "web", Port: 80 })).toMatchObject({ name: "web", level: "write" });
  });

  it("reads catalog, check, coordinate and prepared-query bodies as their routes do: snake_case aliases, the later spelling, a NodeService's own name", () => {
    const look = { localNodeName: () => "local", serviceName: (id: string) => (id === "web-1" ? "web" : undefined) };
    const entry = routeEntry("PUT /v1/agent/check/register", "consul");
    const req = { body: { name: "c", service_id: "web-1", ttl: "10s" }, params: {}, query: new URLSearchParams() } as unknown as Request;
    expect(typeof entry?.need === "function" ? entry.need(req, look as unknown as AclLookups) : undefined).toMatchObject({ name: "web", level: "write" });
    expect(need("PUT /v1/catalog/register", { node: "n1", Node: "n2", Address: "10.0.0.1", Service: { service: "db", Name: "web" } })).toMatchObject({
      kind: "all",
      of: [{ name: "n2" }, { name: "db" }],
    });
    expect(need("PUT /v1/catalog/deregister", { node: "n1", NODE: "n2" })).toMatchObject({ name: "n2" });
    expect(need("PUT /v1/coordinate/update", { node: "n1", Node: "n2" })).toMatchObject({ name: "n2" });
    expect(need("POST /v1/query", { name: "a", Name: "b", Service: { Service: "web" } })).toMatchObject({ name: "b", level: "write" });
  });
});
