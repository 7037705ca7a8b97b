import { ErrorCode, NamespaceCap, RucheError, toWireAlloc, toWireDeployment, toWireEval, toWireNode, type Allocation, type NetworkResource, type Node, type NodeWire } from "../../structs/index.js";
import { spiffeIdentity } from "../../pki/index.js";
import { peerView } from "../../server/index.js";
import type { ApiContext, ListAnswer } from "../context.js";
import { blocking, blockingList } from "../context.js";
import { createIndexIdTokens, idTokens } from "../paginate.js";
import { RenderCache } from "../render-cache.js";
import type { Request, Router } from "../http.js";
import { allocStub } from "./jobs.js";
import { answerPerToken, inRequestNamespace, mayReadIn } from "../namespace.js";

/** The items whose ID starts with `?prefix=` (all without one), as Nomad's list routes filter theirs. */
function byPrefix<T extends { ID: string }>(req: Request, items: readonly T[]): readonly T[] {
  const prefix = req.query.get("prefix") ?? "";
  return prefix === "" ? items : items.filter((i) => i.ID.startsWith(prefix));
}

/**
 * A node as the public API shows it: never its secret; Nomad's time types, its `Drain` and
 * `Address` (the node lists' columns), and its `NodeResources` in Nomad's shape, where
 * Nomad's tools read the node's networks (`NodeNetworks`, each address with its host network).
 */
export function publicNode(n: Node): Omit<NodeWire<Omit<Node, "SecretID">>, "HostNetworks"> & { HostNetworks: Node["HostNetworks"] | null; Drain: boolean; Address: string; NodeResources: NomadNodeResources } {
  const { SecretID: _secret, ...rest } = n;
  return { ...toWireNode(rest), HostNetworks: n.HostNetworks ?? null, Drain: n.DrainStrategy !== null, Address: n.Resources.IP, NodeResources: nomadNodeResources(n) };
}

/** A network in Nomad's `api.NetworkResource` shape. */
function nomadNetwork(n: NetworkResource): Record<string, unknown> {
  const port = (p: NetworkResource["ReservedPorts"][number]): Record<string, unknown> => ({ Label: p.Label, Value: p.Value, To: p.To, HostNetwork: p.HostNetwork });
  return { Mode: n.Mode, Device: "", CIDR: "", IP: n.IP, DNS: null, ReservedPorts: n.ReservedPorts.map(port), DynamicPorts: n.DynamicPorts.map(port), Hostname: n.Hostname ?? "", MBits: n.MBits };
}

/**
 * An allocation's resources as Nomad's `api.AllocatedResources`: each task's cpu and memory,
 * and the group's disk, networks and `Ports` — each port with its `HostIP`, the address it is
 * on (a host network's, or the node's), where `nomad alloc status` reads its addresses.
 */
function nomadAllocatedResources(a: Allocation): Record<string, unknown> {
  const nets = a.Resources.Networks;
  return {
    Tasks: Object.fromEntries(Object.entries(a.TaskResources).map(([name, r]) => [name, { Cpu: { CpuShares: r.CPU }, Memory: { MemoryMB: r.MemoryMB, MemoryMaxMB: 0 }, Networks: r.Networks.map(nomadNetwork), Devices: null }])),
    Shared: {
      DiskMB: a.Resources.DiskMB,
      Networks: nets.map(nomadNetwork),
      Ports: nets.flatMap((n) => [...n.ReservedPorts, ...n.DynamicPorts].map((p) => ({ Label: p.Label, Value: p.Value, To: p.To, HostIP: p.HostIP ?? n.IP }))),
    },
  };
}

/** Nomad's `api.NodeResources`, with the server's `NodeNetworks` (`structs.NodeResources`). */
interface NomadNodeResources {
  Cpu: { CpuShares: number; TotalCpuCores: number };
  Memory: { MemoryMB: number };
  Disk: { DiskMB: number };
  Networks: { Mode: string; Device: string; CIDR: string; IP: string; MBits: number }[];
  NodeNetworks: NonNullable<Node["NodeNetworks"]>;
  MinDynamicPort: number;
  MaxDynamicPort: number;
}

function nomadNodeResources(n: Node): NomadNodeResources {
  const r = n.Resources;
  const own = (n.NodeNetworks ?? []).find((x) => x.Addresses.some((a) => a.Address === r.IP));
  const host = r.IP === "" ? [] : [{ Mode: "host", Device: own?.Device ?? "", CIDR: `${r.IP}/${r.IP.includes(":") ? 128 : 32}`, IP: r.IP, MBits: own?.Speed ?? 1000 }];
  const other = (r.Networks ?? []).map((x) => ({ Mode: x.Mode, Device: "", CIDR: "", IP: "", MBits: 0 }));
  return { Cpu: { CpuShares: r.CPU, TotalCpuCores: r.Cores }, Memory: { MemoryMB: r.MemoryMB }, Disk: { DiskMB: r.DiskMB }, Networks: [...host, ...other], NodeNetworks: n.NodeNetworks ?? [], MinDynamicPort: r.MinDynamicPort, MaxDynamicPort: r.MaxDynamicPort };
}

/**
 * A server-to-server read over TLS takes a server's certificate of the cluster's CA (the
 * listener checked its chain; another region's server shows one of the federation's one CA).
 * Over plain HTTP (TLS off, as the federation then speaks) there is none to ask for.
 */
function mustBeServer(req: Request): void {
  if (!("encrypted" in req.raw.socket)) return;
  const peer = req.peerCert;
  const id = peer === undefined ? null : spiffeIdentity(peer.uris);
  // A certificate of the cluster's PKI names a server by its identity; an operator's, by `server.<region>.ruche` (or Nomad's `.nomad`).
  const named = peer?.dnsNames.some((n) => /^server\.[^.]+\.(ruche|nomad)$/.test(n)) === true;
  if (id?.role !== "server" && !named) throw new RucheError(ErrorCode.Forbidden, `Permission denied: ${req.path} is read by the servers of the federation, with a server's certificate (mutual TLS)`);
}

/** Deployments, evaluations, allocations and nodes. */
export function clusterRoutes(r: Router, ctx: ApiContext): void {
  const { store, server } = ctx;

  // Each list in pages (`per_page`, `next_token`), each answer made once per index and question.
  const lists = { deployments: new RenderCache<ListAnswer>(64), evals: new RenderCache<ListAnswer>(64), allocs: new RenderCache<ListAnswer>(64), nodes: new RenderCache<ListAnswer>(64) };
  r.get("/v1/deployments", async (req) => blockingList(ctx, req, ["deployments"], answerPerToken(req) ? new RenderCache<ListAnswer>(1) : lists.deployments, () => inRequestNamespace(req, byPrefix(req, store.deployments())), createIndexIdTokens, toWireDeployment));
  r.get("/v1/deployment/:id", async (req) =>
    blocking(ctx, req, ["deployments"], () => {
      const d = store.deployment(req.params.id ?? "");
      if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${req.params.id ?? ""}" not found`);
      mayReadIn(req.acl, d.Namespace, d.JobID);
      return toWireDeployment(d);
    }),
  );
  r.get("/v1/deployment/allocations/:id", async (req) =>
    blocking(ctx, req, ["allocs"], () => {
      const d = store.deployment(req.params.id ?? "");
      if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${req.params.id ?? ""}" not found`);
      mayReadIn(req.acl, d.Namespace, d.JobID);
      return store.allocsByJob(d.Namespace, d.JobID).filter((a) => a.DeploymentID === d.ID).map(allocStub);
    }),
  );
  r.put("/v1/deployment/promote/:id", async (req) => {
    const b = (req.body ?? {}) as { All?: unknown; Groups?: unknown };
    const groups = b.All === true || b.Groups === undefined ? null : Array.isArray(b.Groups) ? b.Groups.map(String) : null;
    const ev = await server.deployments.promote(req.params.id ?? "", groups);
    return { body: { EvalID: ev.ID, DeploymentModifyIndex: store.index, Index: store.index }, index: store.index };
  });
  // Nomad's DeploymentPauseRequest {DeploymentID, Pause}; the answer is its DeploymentUpdateResponse (an evaluation only on resume).
  r.put("/v1/deployment/pause/:id", async (req) => {
    const b = (req.body ?? {}) as { DeploymentID?: unknown; Pause?: unknown };
    if (b.Pause !== undefined && typeof b.Pause !== "boolean") throw new RucheError(ErrorCode.BadRequest, "Pause must be true or false", { path: "Pause" });
    const id = req.params.id ?? "";
    if (b.DeploymentID !== undefined && typeof b.DeploymentID !== "string") throw new RucheError(ErrorCode.BadRequest, "DeploymentID must be a deployment's ID", { path: "DeploymentID" });
    if (b.DeploymentID !== undefined && b.DeploymentID !== "" && b.DeploymentID !== id) throw new RucheError(ErrorCode.BadRequest, `DeploymentID "${b.DeploymentID}" is not the deployment of the path, "${id}"`, { path: "DeploymentID" });
    const ev = await server.deployments.pause(id, b.Pause === true);
    return { body: { EvalID: ev?.ID ?? "", EvalCreateIndex: ev === null ? 0 : store.index, DeploymentModifyIndex: store.index, RevertedJobVersion: null, Index: store.index }, index: store.index };
  });
  // Nomad's `deployment unblock`: a blocked multiregion deployment ended successful (DeploymentUnblockRequest {DeploymentID}).
  r.put("/v1/deployment/unblock/:id", async (req) => {
    const id = req.params.id ?? "";
    const b = (req.body ?? {}) as { DeploymentID?: unknown };
    if (b.DeploymentID !== undefined && typeof b.DeploymentID !== "string") throw new RucheError(ErrorCode.BadRequest, "DeploymentID must be a deployment's ID", { path: "DeploymentID" });
    if (b.DeploymentID !== undefined && b.DeploymentID !== "" && b.DeploymentID !== id) throw new RucheError(ErrorCode.BadRequest, `DeploymentID "${b.DeploymentID}" is not the deployment of the path, "${id}"`, { path: "DeploymentID" });
    await server.deployments.unblock(id);
    return { body: { EvalID: "", EvalCreateIndex: 0, DeploymentModifyIndex: store.index, RevertedJobVersion: null, Index: store.index }, index: store.index };
  });
  // Servers of other regions read a multiregion job's deployments here (their watchers' turns): their status alone.
  r.get("/v1/internal/multiregion/deployments", (req) => {
    mustBeServer(req);
    const namespace = req.query.get("namespace") ?? "";
    const job = req.query.get("job") ?? "";
    if (namespace === "" || job === "") throw new RucheError(ErrorCode.BadRequest, "namespace and job must both be given", { path: namespace === "" ? "namespace" : "job" });
    return { body: peerView(store, namespace, job), index: store.tableIndex("deployments") };
  });
  r.put("/v1/deployment/fail/:id", async (req) => {
    const ev = await server.deployments.fail(req.params.id ?? "");
    return { body: { EvalID: ev?.ID ?? "", Index: store.index }, index: store.index };
  });

  r.get("/v1/evaluations", async (req) => blockingList(ctx, req, ["evals"], answerPerToken(req) ? new RenderCache<ListAnswer>(1) : lists.evals, () => inRequestNamespace(req, byPrefix(req, store.evals())), createIndexIdTokens, toWireEval));
  r.get("/v1/evaluation/:id", async (req) =>
    blocking(ctx, req, ["evals"], () => {
      const e = store.eval(req.params.id ?? "");
      if (e === undefined) throw new RucheError(ErrorCode.NotFound, `evaluation "${req.params.id ?? ""}" not found`);
      mayReadIn(req.acl, e.Namespace, e.JobID);
      return toWireEval(e);
    }),
  );
  r.get("/v1/evaluation/:id/allocations", async (req) =>
    blocking(ctx, req, ["allocs"], () => {
      const e = store.eval(req.params.id ?? "");
      if (e === undefined) throw new RucheError(ErrorCode.NotFound, `evaluation "${req.params.id ?? ""}" not found`);
      mayReadIn(req.acl, e.Namespace, e.JobID);
      return store.allocsByJob(e.Namespace, e.JobID).filter((a) => a.EvalID === e.ID).map(allocStub);
    }),
  );

  r.get("/v1/allocations", async (req) => blockingList(ctx, req, ["allocs"], answerPerToken(req) ? new RenderCache<ListAnswer>(1) : lists.allocs, () => inRequestNamespace(req, byPrefix(req, store.allocs())), createIndexIdTokens, allocStub));
  // Nomad's `alloc stop` (PUT and POST): the allocation is migrated away and replaced; the CLI resolves a prefix first.
  r.put("/v1/allocation/:id/stop", async (req) => ({ body: await ctx.server.stopAlloc(req.params.id ?? "") }));
  r.get("/v1/allocation/:id", async (req) =>
    blocking(ctx, req, ["allocs"], () => {
      const a = store.alloc(req.params.id ?? "");
      if (a === undefined) throw new RucheError(ErrorCode.NotFound, `allocation "${req.params.id ?? ""}" not found`);
      mayReadIn(req.acl, a.Namespace, a.JobID);
      return { ...toWireAlloc(a), AllocatedResources: nomadAllocatedResources(a) };
    }),
  );

  r.get("/v1/nodes", async (req) => blockingList(ctx, req, ["nodes"], lists.nodes, () => byPrefix(req, store.nodes()), idTokens, publicNode));
  r.get("/v1/node/:id", async (req) =>
    blocking(ctx, req, ["nodes"], () => {
      const n = store.node(req.params.id ?? "");
      if (n === undefined) throw new RucheError(ErrorCode.NotFound, `node "${req.params.id ?? ""}" not found`);
      return publicNode(n);
    }),
  );
  // Nomad's: the node's allocations in the namespaces the token may read.
  r.get("/v1/node/:id/allocations", async (req) => blocking(ctx, req, ["allocs"], () => store.allocsByNode(req.params.id ?? "").filter((a) => req.acl.namespace(a.Namespace, NamespaceCap.ReadJob)).map(allocStub)));
  r.put("/v1/node/:id/drain", async (req) => {
    const b = (req.body ?? {}) as { DrainSpec?: { Deadline?: unknown; IgnoreSystemJobs?: unknown } | null; MarkEligible?: unknown };
    let spec: { Deadline: number; IgnoreSystemJobs: boolean } | null = null;
    if (b.DrainSpec !== undefined && b.DrainSpec !== null) {
      if (typeof b.DrainSpec.Deadline !== "number") throw new RucheError(ErrorCode.BadRequest, "DrainSpec.Deadline must be nanoseconds (0: none, -1: now)", { path: "DrainSpec.Deadline" });
      spec = { Deadline: b.DrainSpec.Deadline, IgnoreSystemJobs: b.DrainSpec.IgnoreSystemJobs === true };
    }
    const res = await server.nodes.drain(req.params.id ?? "", spec, b.MarkEligible === true);
    return { body: res, index: res.Index };
  });
  r.put("/v1/node/:id/eligibility", async (req) => {
    const b = (req.body ?? {}) as { Eligibility?: unknown };
    if (b.Eligibility !== "eligible" && b.Eligibility !== "ineligible") throw new RucheError(ErrorCode.BadRequest, 'Eligibility must be "eligible" or "ineligible"', { path: "Eligibility" });
    const res = await server.nodes.setEligibility(req.params.id ?? "", b.Eligibility === "eligible");
    return { body: res, index: res.Index };
  });
}
