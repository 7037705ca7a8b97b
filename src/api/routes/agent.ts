import type { ClusterView, Federation } from "../../server/index.js";
import type { Router } from "../http.js";
import { nomadMember } from "./servers.js";

/** What the agent's own routes read of the agent that serves them. */
export interface AgentSelfOptions {
  /** The node this agent runs (its ID), if it runs one. */
  localNode: () => string | undefined;
  /** Whether ACLs are on. */
  acl: boolean;
  /** The regions this server knows (`/v1/regions`); its own region's servers' alone without it. */
  federation?: Federation;
}

/**
 * Nomad's `/v1/agent/self` and `/v1/regions`, in the shapes Nomad's Go client decodes
 * (`api.AgentSelf`, `[]string`): `member` is the server as `/v1/agent/members` shows it
 * (`Status` a string), `config` has the keys Nomad's tools read (`Region`, `Datacenter`,
 * `NodeName`, `ACL.Enabled`, `Server.Enabled`, `Client.Enabled`, `UI`), `stats.client.node_id`
 * names the agent's node as `nomad node status -self` reads it. Registered before Consul's
 * `/v1/agent/self` on the main API, which it answers there; the Consul listener keeps
 * Consul's own.
 */
export function agentRoutes(r: Router, cluster: ClusterView, o: AgentSelfOptions): void {
  const regions = (): string[] => o.federation?.regions() ?? [...new Set([cluster.self.Region, ...cluster.members().map((m) => m.Region)])].sort();
  r.get("/v1/regions", () => ({ body: regions() }));
  r.get("/v1/agent/self", () => {
    const self = cluster.self;
    const member = cluster.members().find((m) => m.Name === self.Name) ?? { ...self, Status: "alive" as const, Leader: cluster.leader()?.Name === self.Name };
    const node = o.localNode();
    const leader = cluster.leader();
    const stats: Record<string, Record<string, string>> = {
      nomad: { server: "true", leader: String(leader?.Name === self.Name), leader_addr: leader?.HTTPAddr ?? "", bootstrap: "false", known_regions: String(regions().length) },
    };
    if (node !== undefined && node !== "") stats.client = { node_id: node, known_servers: self.HTTPAddr };
    return {
      body: {
        config: {
          Region: self.Region,
          Datacenter: self.Datacenter,
          NodeName: self.Name,
          Version: { Version: self.Build, VersionPrerelease: "", VersionMetadata: "", Revision: "ruche" },
          ACL: { Enabled: o.acl },
          Server: { Enabled: true },
          Client: { Enabled: node !== undefined && node !== "" },
          UI: { Enabled: true, ShowCLIHints: false },
        },
        member: nomadMember(member),
        stats,
      },
    };
  });
}
