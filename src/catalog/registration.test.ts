import { describe, expect, it } from "vitest";
import { NS } from "../structs/index.js";
import { parseCheckRegistration, parseRegistration } from "./registration.js";

const o = { nodeId: "node-1", now: 1000, allowScriptChecks: false };

describe("parseRegistration", () => {
  it("reads Consul's agent registration, with its checks and their defaults", () => {
    const r = parseRegistration(
      {
        Name: "redis",
        ID: "redis1",
        Tags: ["primary"],
        Address: "127.0.0.1",
        Port: 8000,
        Meta: { version: "4.0" },
        Check: { HTTP: "http://127.0.0.1:8000/health", Interval: "10s", Timeout: "1s", DeregisterCriticalServiceAfter: "90m" },
        Checks: [{ CheckID: "ttl", TTL: "15s", SuccessBeforePassing: 2, FailuresBeforeCritical: 3 }],
      },
      o,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.service).toMatchObject({ ID: "redis1", Name: "redis", Tags: ["primary"], Address: "127.0.0.1", Port: 8000, Meta: { version: "4.0" }, NodeID: "node-1" });
    // Two checks: Consul numbers the ones without an ID (service:ID:1, :2); a single one is service:ID.
    expect(r.service.Checks[0]).toMatchObject({ CheckID: "service:redis1:1", Type: "http", Interval: 10 * NS.second, Timeout: NS.second, DeregisterCriticalServiceAfter: 90 * NS.minute, Status: "critical" });
    expect(r.service.Checks[1]).toMatchObject({ CheckID: "ttl", Type: "ttl", TTL: 15 * NS.second, SuccessBeforePassing: 2, FailuresBeforeCritical: 3 });
  });

  it("reads a definition file's lower-case keys; the ID defaults to the name", () => {
    const r = parseRegistration({ name: "demo", tags: ["a"], port: 80 }, o);
    expect(r).toMatchObject({ ok: true, service: { ID: "demo", Name: "demo", Tags: ["a"], Port: 80, Checks: [] } });
  });

  it("says what is wrong, field by field", () => {
    expect(parseRegistration({ Port: 70000, Tags: "x", Check: { Interval: "soon" } }, o)).toEqual({
      ok: false,
      errors: ["Name: missing service name", "ID: must be a string", "Tags: must be a list of strings", "Port: must be a port number", 'Checks[0].Interval: must be a duration such as "10s"', "Checks[0]: a check needs one of HTTP, TCP, TTL or Args"],
    });
  });

  it("refuses script checks unless the agent allows them", () => {
    const body = { Name: "s", Check: { Args: ["/bin/true"], Interval: "5s" } };
    const refused = parseRegistration(body, o);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors[0]).toContain("script checks are disabled on this agent");
    expect(parseRegistration(body, { ...o, allowScriptChecks: true }).ok).toBe(true);
  });

  it("numbers default check IDs as Consul: service:ID alone, service:ID:1 and :2 for two", () => {
    const one = parseRegistration({ Name: "web", Check: { TTL: "10s" } }, o);
    const two = parseRegistration({ Name: "web", Checks: [{ TTL: "10s" }, { TTL: "20s" }] }, o);
    expect(one.ok && one.service.Checks.map((c) => c.CheckID)).toEqual(["service:web"]);
    expect(two.ok && two.service.Checks.map((c) => c.CheckID)).toEqual(["service:web:1", "service:web:2"]);
  });

  it("keeps Consul's details (Kind, Weights, EnableTagOverride, TaggedAddresses, Proxy) and refuses bad ones in Consul's words", () => {
    const r = parseRegistration({ Name: "p", Kind: "connect-proxy", Weights: { Passing: 3, Warning: 0 }, EnableTagOverride: true, TaggedAddresses: { wan: { Address: "1.2.3.4", Port: 80 } }, Proxy: { DestinationServiceName: "web" } }, o);
    expect(r.ok && r.service.Details).toEqual({ Kind: "connect-proxy", Weights: { Passing: 3, Warning: 0 }, EnableTagOverride: true, TaggedAddresses: { wan: { Address: "1.2.3.4", Port: 80 } }, Proxy: { DestinationServiceName: "web" } });
    expect(parseRegistration({ Name: "p" }, o)).toMatchObject({ ok: true, service: { Name: "p" } });
    expect((parseRegistration({ Name: "p" }, o) as { service: object }).service).not.toHaveProperty("Details");
    expect(parseRegistration({ Name: "p", Weights: { Passing: 0 } }, o)).toEqual({ ok: false, errors: ["Invalid Weights: Passing must be greater than 0"] });
    expect(parseRegistration({ Name: "p", Weights: { Passing: 1, Warning: -1 } }, o)).toEqual({ ok: false, errors: ["Invalid Weights: Warning must be greater or equal than 0"] });
    expect(parseRegistration({ Name: "p", Kind: "sidecar" }, o).ok).toBe(false);
    expect(parseRegistration({ Name: "p", TaggedAddresses: { lan: { Address: 1 } } }, o)).toEqual({ ok: false, errors: ['TaggedAddresses.lan: must be {"Address": string, "Port": port number}'] });
  });

  it("reads a check registered on its own: its ID defaults to its Name, ServiceID ties it to a service", () => {
    expect(parseCheckRegistration({ name: "mem", ttl: "30s", notes: "n" }, o)).toMatchObject({ ok: true, serviceId: "", check: { CheckID: "mem", Name: "mem", Type: "ttl", Notes: "n" } });
    expect(parseCheckRegistration({ Name: "x", ID: "x1", ServiceID: "web", HTTP: "http://127.0.0.1/", Interval: "5s" }, o)).toMatchObject({ ok: true, serviceId: "web", check: { CheckID: "x1", Type: "http" } });
    expect(parseCheckRegistration({ TTL: "5s" }, o)).toEqual({ ok: false, errors: ["Missing check name"] });
  });
});
