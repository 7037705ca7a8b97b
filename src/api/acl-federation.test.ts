import { describe, expect, it } from "vitest";
import { silentLogger } from "../structs/index.js";
import { aclAuthorize } from "./acl-authorize.js";
import { aclLookups } from "./acl-lookups.js";
import { AclResolver } from "./acl-resolve.js";
import { FEDERATION_FORWARDED } from "./federation-forward.js";
import type { Request } from "./http.js";
import type { PeerCert } from "./tls-listener.js";

// No token is known here: what a server of one region sees of another region's tokens.
const door = aclAuthorize({
  enabled: true,
  resolver: new AclResolver({ aclTokenBySecret: () => undefined, aclToken: () => undefined, aclPolicy: () => undefined }),
  lookups: aclLookups({}),
  listener: "api",
  log: silentLogger,
  region: () => "europe",
});

function req(route: string, o: { peer?: string; headers?: Record<string, string> } = {}): Request {
  const [method = "GET", path = "/"] = route.split(" ");
  const peerCert: PeerCert | undefined = o.peer === undefined ? undefined : { subject: "CN=x", uris: [o.peer], dnsNames: [], ips: [], fingerprint256: "", validTo: new Date(Date.now() + 60_000) };
  return { method, path, route, params: {}, query: new URLSearchParams(), headers: o.headers ?? {}, ...(peerCert === undefined ? {} : { peerCert }) } as unknown as Request;
}

describe("the ACL door of a server in a federation that shares one CA", () => {
  it("takes a certificate of the cluster's PKI as an agent of this region only, never of another region", () => {
    expect(door(req("GET /v1/catalog/snapshot", { peer: "spiffe://ruche/europe/client/n1" }))).toBeUndefined();
    expect(() => door(req("GET /v1/catalog/snapshot", { peer: "spiffe://ruche/us/server/us1" }))).toThrow(/^Permission denied$/);
    expect(() => door(req("GET /v1/catalog/snapshot", { peer: "spiffe://ruche/us/client/n9" }))).toThrow(/^Permission denied$/);
  });

  it("tells a request another region's server forwarded with a token unknown here that tokens are per region, after Nomad's words", () => {
    expect(() => door(req("GET /v1/jobs", { headers: { "x-nomad-token": "a-token-of-us" } }))).toThrow(/^ACL token not found$/);
    expect(() => door(req("GET /v1/jobs", { headers: { "x-nomad-token": "a-token-of-us", [FEDERATION_FORWARDED]: "us1.us" } }))).toThrow(
      'ACL token not found (this request was forwarded by us1.us from another region: ACL tokens are per region and not replicated between regions, so it needs a token of region "europe", made there with acl token create)',
    );
  });
});
