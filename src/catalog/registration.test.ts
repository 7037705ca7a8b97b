import { describe, expect, it } from "vitest";
import { NS } from "../structs/index.js";
import { parseRegistration } from "./registration.js";

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
    expect(r.service.Checks[0]).toMatchObject({ CheckID: "service:redis1", Type: "http", Interval: 10 * NS.second, Timeout: NS.second, DeregisterCriticalServiceAfter: 90 * NS.minute, Status: "critical" });
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
});
