import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseRouterConfigFile } from "./config-file.js";

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./testdata/${name}`, import.meta.url)), "utf8");

function load(file: string, text: string) {
  const p = parseRouterConfigFile(file, text);
  if (!p.ok) throw new Error(p.errors.join("\n"));
  return p.config;
}

function refusals(file: string, text: string): string[] {
  const p = parseRouterConfigFile(file, text);
  if (p.ok) throw new Error("expected the file to be refused");
  return p.errors;
}

describe("the router's configuration file", () => {
  it("loads article 2's traefik.toml as written", () => {
    const c = load("traefik.toml", fixture("article-2-traefik.toml"));
    expect(c.entryPoints).toEqual([{ name: "http", host: "0.0.0.0", port: 80, tls: null }]);
    expect(c.defaultEntryPoints).toEqual(["http"]);
    expect(c.dashboard).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(c.domain).toBe("exemple.com");
    expect(c.prefix).toBe("traefik");
    expect(c.constraints).toHaveLength(1);
    expect(c.catalogEndpoint).toBe("127.0.0.1:8500");
    expect(c.kv).toBeUndefined();
  });

  it("loads article 3's traefik.toml as written: [consul] is the KV provider", () => {
    const c = load("traefik.toml", fixture("article-3-traefik.toml"));
    expect(c.kv).toEqual({ rootKey: "traefik", endpoints: [] });
    expect(c.prefix).toBe("traefik-consul");
    expect(c.domain).toBe("localhost");
    expect(c.dashboard).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("loads Traefik v2's documented static configuration, in TOML and in YAML alike", () => {
    const toml = load("traefik.toml", fixture("traefik-v2.toml"));
    const yaml = load("traefik.yml", fixture("traefik-v2.yaml"));
    for (const c of [toml, yaml]) {
      // The API's entrypoint is the dashboard's address, not one of routes.
      expect(c.dashboard).toEqual({ host: "0.0.0.0", port: 8081 });
      expect(c.entryPoints.map((e) => [e.name, e.port])).toEqual([
        ["http", 8080],
        ["web", 80],
      ]);
      expect(c.prefix).toBe("test");
      expect(c.exposedByDefault).toBe(false);
      expect(c.defaultRule).toBe("Host(`{{ .Name }}.example.org`)");
      expect(c.constraints).toHaveLength(1);
      expect(c.catalogEndpoint).toBe("127.0.0.1:8500");
      expect(c.kv).toEqual({ rootKey: "traefik", endpoints: ["127.0.0.1:8500"] });
      expect(c.accessLog).toBe(true);
      expect(c.limits.requestTimeoutMs).toBe(42_000);
      expect(c.limits.idleTimeoutMs).toBe(90_000);
      expect(c.limits.dialTimeoutMs).toBe(2_000);
    }
  });

  it("loads Traefik v1.7's documented traefik.toml: TLS entrypoint, [api] on the traefik entrypoint, [retry], frontEndRule", () => {
    const c = load(
      "traefik.toml",
      `defaultEntryPoints = ["http", "https"]

[entryPoints]
  [entryPoints.http]
  address = ":80"
  [entryPoints.https]
  address = ":443"
    [entryPoints.https.tls]
      [[entryPoints.https.tls.certificates]]
      certFile = "integration/fixtures/https/snitest.com.cert"
      keyFile = "integration/fixtures/https/snitest.com.key"

[api]
  entryPoint = "traefik"
  dashboard = true

[retry]
  attempts = 3

[consulCatalog]
endpoint = "127.0.0.1:8500"
exposedByDefault = false
domain = "consul.localhost"
prefix = "traefik"
frontEndRule = "Host:{{.ServiceName}}.{{.Domain}}"
`,
    );
    expect(c.entryPoints).toEqual([
      { name: "http", host: "0.0.0.0", port: 80, tls: null },
      { name: "https", host: "0.0.0.0", port: 443, tls: [{ certFile: "integration/fixtures/https/snitest.com.cert", keyFile: "integration/fixtures/https/snitest.com.key" }] },
    ]);
    expect(c.dashboard).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(c.retries).toBe(2);
    expect(c.defaultRule).toBe("Host:{{.ServiceName}}.{{.Domain}}");
    expect(c.exposedByDefault).toBe(false);
  });

  it("keeps the dashboard on its own port for a v2 api without insecure", () => {
    expect(load("traefik.yml", "api:\n  dashboard: true\nentryPoints:\n  web:\n    address: ':80'\n").dashboard).toBeUndefined();
  });

  it("still reads Ruche's own JSON keys", () => {
    const c = load("router.json", JSON.stringify({ entryPoints: { http: { address: ":8000" } }, retries: 4, failover: "nearest", consulCatalog: { domain: "a.com" } }, null, 2));
    expect(c.retries).toBe(4);
    expect(c.failover).toEqual({ kind: "nearest" });
    expect(c.domain).toBe("a.com");
    expect(c.entryPoints[0]?.port).toBe(8000);
  });

  it("refuses what the router does not build, each with its file and line", () => {
    const toml = `defaultEntryPoints = ["http"]

[entryPoints.http]
  address = ":80"
  [entryPoints.http.redirect]
    entryPoint = "https"

[acme]
  email = "a@b.c"

[docker]
  endpoint = "unix:///var/run/docker.sock"

[consulCatalog]
  endpoint = "127.0.0.1:8500"
  stale = true
`;
    expect(refusals("traefik.toml", toml)).toEqual([
      expect.stringMatching(/^traefik\.toml:5: entryPoints\.http\.redirect: .*redirections/),
      expect.stringMatching(/^traefik\.toml:8: acme: ACME/),
      expect.stringMatching(/^traefik\.toml:11: docker: the Docker provider is not built/),
      expect.stringMatching(/^traefik\.toml:16: consulCatalog\.stale: /),
    ]);
    const yaml = `entryPoints:
  web:
    address: ":80"
certificatesResolvers:
  le:
    acme:
      email: a@b.c
providers:
  docker: {}
  consulCatalog:
    watch: false
tracing:
  jaeger: {}
log:
  level: DEBUG
metrics:
  datadog: {}
`;
    expect(refusals("traefik.yaml", yaml)).toEqual([
      expect.stringMatching(/^traefik\.yaml:4: certificatesResolvers: ACME/),
      expect.stringMatching(/^traefik\.yaml:9: providers\.docker: the Docker provider/),
      expect.stringMatching(/^traefik\.yaml:11: providers\.consulCatalog\.watch: /),
      expect.stringMatching(/^traefik\.yaml:12: tracing: tracing is not built/),
      expect.stringMatching(/^traefik\.yaml:14: log: .*-log-level/),
      expect.stringMatching(/^traefik\.yaml:17: metrics\.datadog: datadog metrics are not built/),
    ]);
  });

  it("names the file's line for a bad value, under the file's own key", () => {
    const errs = refusals("traefik.toml", `[entryPoints]\n  [entryPoints.web]\n    address = "nowhere"\n[providers.consulCatalog]\n  constraints = "Tag(\`a\` &&"\n`);
    expect(errs).toEqual([expect.stringMatching(/^traefik\.toml:3: entryPoints\.web\.address: must be HOST:PORT/), expect.stringMatching(/^traefik\.toml:5: providers\.consulCatalog\.constraints: /)]);
  });

  it("reports syntax errors with their line", () => {
    expect(refusals("traefik.toml", `[entryPoints]\n  [entryPoints.http]\n  address = \n`)).toEqual([expect.stringMatching(/^traefik\.toml:3: /)]);
    expect(refusals("traefik.yml", `entryPoints:\n  web:\n    address: ":80"\n  web:\n    address: ":81"\n`)).toEqual([expect.stringMatching(/^traefik\.yml:4: /)]);
    expect(refusals("traefik.ini", "")).toEqual([expect.stringMatching(/TOML .* YAML .* JSON/)]);
  });
});
