import type { IDefaultPolicyContext, IPolicy } from "cockatiel";
import { Etcd3, type IMember } from "etcd3";
import type { EtcdMemberStatus } from "../server/index.js";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { etcdClientCredentials, type EtcdClientTls } from "./etcd-external.js";

/**
 * The etcd cluster's membership, through etcd's Cluster and Maintenance APIs: a server
 * joining (`addMember`), one leaving (`removeMember`, for `ruche server force-leave` and
 * `ruche operator etcd remove`), and every member's status (`memberStatuses`, for `ruche
 * operator etcd list`). Member IDs are shown in hex, as etcdctl shows them.
 */

/**
 * A policy that runs the call once, as it is: no retry, no circuit breaker. etcd3's default
 * opens a host's circuit for 5 s after three failures in a row, and etcd answers "unhealthy
 * cluster" to a membership change for the first seconds of a cluster: the calls here try
 * again on their own terms instead.
 */
class DirectPolicy implements IPolicy {
  /** Type-only in cockatiel's interface: never set. */
  declare readonly _altReturn: never;
  readonly onSuccess = () => ({ dispose: () => undefined });
  readonly onFailure = () => ({ dispose: () => undefined });
  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return await fn({ signal: signal ?? new AbortController().signal });
  }
}
const direct = new DirectPolicy();

/** An etcd client that tries each call once (see `direct`), for the membership calls; with `tls`, it speaks TLS (the member's certificate shown, or the external cluster's files). */
export function directEtcdClient(hosts: string[], dialTimeoutMs = 2000, callTimeoutMs?: number, tls?: EtcdClientTls): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: dialTimeoutMs,
    ...(tls === undefined ? {} : { credentials: etcdClientCredentials(tls) }),
    faultHandling: { host: () => direct, global: direct },
    // A unary call that gets no answer (etcd without a quorum) fails after callTimeoutMs; streams (watches, keepalives) stay open.
    ...(callTimeoutMs === undefined ? {} : { defaultCallOptions: (c: { isStream: boolean }) => (c.isStream ? {} : { deadline: Date.now() + callTimeoutMs }) }),
  });
}

/**
 * Whether an etcd call failed before it reached etcd: gRPC had no connection to the member it
 * picked (down, or unreachable), or the member was passed over (`SkipUnreachable`). Such a
 * call may be sent to another member; a call that may have reached etcd is never sent again.
 */
export function etcdCallNotSent(err: unknown): boolean {
  return err instanceof EtcdMemberSkipped || errorMessage(err).includes("No connection established");
}

/**
 * Whether etcd dropped the call's proposal (it knew no leader, or its leadership was moving
 * to another member, as a Ruche leader asks of it): the proposal never entered the log, so
 * the call was not applied and may be sent again.
 */
export function etcdProposalDropped(err: unknown): boolean {
  return errorMessage(err).includes("raft proposal dropped");
}

/** A dropped proposal is sent again this many times, 100 ms apart: an etcd election or a leadership transfer takes about a second. */
const DROPPED_RETRIES = 30;

/** Whether an error says the member's connection failed or broke (a stream's error included). */
function memberUnreachable(err: unknown): boolean {
  return etcdCallNotSent(err) || /Connection dropped|ECONNREFUSED|ECONNRESET/.test(errorMessage(err));
}

/** A call not sent to a member that could not be reached a moment ago. */
class EtcdMemberSkipped extends Error {
  constructor(host: string) {
    super(`etcd member ${host} could not be reached a moment ago`);
    this.name = "EtcdMemberSkipped";
  }
}

/**
 * A member's policy in a server's client: a member whose connection failed or broke is passed
 * over for `skipMs` (the client then picks another), and tried again after.
 */
class SkipUnreachable implements IPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess = () => ({ dispose: () => undefined });
  readonly onFailure = () => ({ dispose: () => undefined });
  private until = 0;
  constructor(
    private readonly host: string,
    private readonly skipMs: number,
  ) {}
  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    if (Date.now() < this.until) throw new EtcdMemberSkipped(this.host);
    try {
      return await fn({ signal: signal ?? new AbortController().signal });
    } catch (err) {
      if (memberUnreachable(err)) this.until = Date.now() + this.skipMs;
      throw err;
    }
  }
}

/** A server client's policy for a whole call: one that reached no member is sent again (to another member), up to `attempts` times in all; one whose proposal etcd dropped, again after 100 ms. */
class RetryNotSent implements IPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess = () => ({ dispose: () => undefined });
  readonly onFailure = () => ({ dispose: () => undefined });
  constructor(private readonly attempts: number) {}
  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    let dropped = 0;
    for (let i = 1; ; ) {
      try {
        return await fn({ signal: signal ?? new AbortController().signal });
      } catch (err) {
        if (etcdProposalDropped(err) && dropped < DROPPED_RETRIES && signal?.aborted !== true) {
          dropped++;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (i >= this.attempts || !etcdCallNotSent(err)) throw err;
        i++;
      }
    }
  }
}

/**
 * A server's etcd client, on every member: a call that reached no member (the one picked is
 * down) goes to another, and a member that could not be reached is passed over for a second,
 * so that one member of three down costs nothing; a call whose proposal etcd dropped (no
 * leader a moment) is sent again; a call that may have reached etcd fails as it is (the
 * callers settle its outcome). A unary call gives up after `callTimeoutMs`. With `tls` (the
 * server's own member speaks TLS, or the external cluster does), it speaks TLS: the members'
 * certificates checked against that CA, its client certificate shown when it has one.
 */
export function serverEtcdClient(hosts: string[], dialTimeoutMs: number, callTimeoutMs: number, tls?: EtcdClientTls): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: dialTimeoutMs,
    ...(tls === undefined ? {} : { credentials: etcdClientCredentials(tls) }),
    faultHandling: { host: (h) => new SkipUnreachable(h, 1000), global: new RetryNotSent(hosts.length) },
    defaultCallOptions: (c: { isStream: boolean }) => (c.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}

/** Runs `call` again while etcd answers "unhealthy cluster", for up to `retryMs`. */
async function whileUnhealthy<T>(retryMs: number, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!errorMessage(err).includes("unhealthy cluster") || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The member list, or a 503-class error that says so. */
async function listMembers(client: Etcd3): Promise<IMember[]> {
  try {
    return (await client.cluster.memberList({})).members;
  } catch (err) {
    throw new RucheError(ErrorCode.NoLeader, `cannot list the etcd members: ${errorMessage(err)}`, { cause: err });
  }
}

/** etcd's member ID (a decimal uint64 on the wire) in hex, as etcdctl prints it. */
export function memberHexId(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** A member of `--initial-cluster`: a member added but not started yet has no name, so it is named by its ID. */
function memberName(m: IMember): string {
  return m.name !== "" ? m.name : `member-${memberHexId(m.ID)}`;
}

/** The `--initial-cluster` value for these members, `self` (a member not started yet) named as it will be. */
export function initialClusterOf(members: IMember[], self: { name: string; peerURL: string }): string {
  return members
    .flatMap((m) => m.peerURLs.map((u) => `${m.peerURLs.includes(self.peerURL) ? self.name : memberName(m)}=${u}`))
    .join(",");
}

/**
 * Adds a server's member (`name` at `peerURL`) to the cluster, and answers the
 * `--initial-cluster` it must start with (`--initial-cluster-state existing`), as `etcdctl
 * member add` does. Asking again for a member added but not started yet adds nothing. A
 * member that has run under that name or URL is refused: that server lost its etcd data,
 * and must be removed before it joins again.
 */
export async function addMember(client: Etcd3, name: string, peerURL: string, retryMs = 8000): Promise<string> {
  const members = await listMembers(client);
  const atURL = members.find((m) => m.peerURLs.includes(peerURL));
  const named = members.find((m) => m.name === name && m !== atURL);
  if (named !== undefined) {
    throw new RucheError(
      ErrorCode.Conflict,
      `an etcd member named ${name} already exists (peer URL ${named.peerURLs.join(", ")}, ID ${memberHexId(named.ID)}); remove it first (ruche operator etcd remove ${name})`,
    );
  }
  if (atURL !== undefined && atURL.clientURLs.length > 0) {
    throw new RucheError(
      ErrorCode.Conflict,
      `etcd member ${memberName(atURL)} at ${peerURL} has already run: the server joining there lost its etcd data; remove the member (ruche operator etcd remove ${memberHexId(atURL.ID)}) and start that server again`,
    );
  }
  if (atURL !== undefined) return initialClusterOf(members, { name, peerURL });
  try {
    const added = await whileUnhealthy(retryMs, () => client.cluster.memberAdd({ peerURLs: [peerURL] }));
    return initialClusterOf(added.members, { name, peerURL });
  } catch (err) {
    throw new RucheError(ErrorCode.NoLeader, `etcd did not add ${name} (${peerURL}) as a member: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Removes the member with this name or ID (hex, as `ruche operator etcd list` shows it, or
 * decimal). etcd refuses for a few seconds after the members connected, and whenever the
 * removal would leave fewer started members than a quorum ("unhealthy cluster"): the first
 * refusal is tried again for up to `retryMs`, then reported.
 */
export async function removeMember(client: Etcd3, nameOrId: string, retryMs = 8000): Promise<void> {
  const members = await listMembers(client);
  const wanted = nameOrId.trim().toLowerCase().replace(/^0x/, "");
  const m = members.find((x) => x.name !== "" && x.name === nameOrId) ?? members.find((x) => memberHexId(x.ID) === wanted || x.ID === wanted);
  if (m === undefined) {
    const known = members.map((x) => `${x.name === "" ? "(not started)" : x.name} ${memberHexId(x.ID)}`).join(", ");
    throw new RucheError(ErrorCode.NotFound, `no etcd member named or with ID ${nameOrId}; members: ${known}`);
  }
  try {
    await whileUnhealthy(retryMs, () => client.cluster.memberRemove({ ID: m.ID }));
  } catch (err) {
    // Removed meanwhile (by another server's request, or a first try that answered late).
    if (errorMessage(err).includes("member not found")) return;
    const unhealthy = errorMessage(err).includes("unhealthy cluster");
    throw new RucheError(
      unhealthy ? ErrorCode.Conflict : ErrorCode.NoLeader,
      unhealthy
        ? `etcd refused to remove member ${memberName(m)} (${memberHexId(m.ID)}): the cluster is not healthy enough (the others would not hold a quorum, or some connected less than 5 s ago)`
        : `etcd did not remove member ${memberName(m)} (${memberHexId(m.ID)}): ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/**
 * Every member with its status, asked of each member at its own client URL within
 * `timeoutMs`: a member that does not answer is listed with `Reachable: false` and why.
 * With `tls`, those clients speak it too.
 */
export async function memberStatuses(client: Etcd3, timeoutMs = 1000, tls?: EtcdClientTls): Promise<EtcdMemberStatus[]> {
  const members = await listMembers(client);
  const statuses = await Promise.all(
    members.map(async (m): Promise<EtcdMemberStatus> => {
      const base: EtcdMemberStatus = {
        ID: memberHexId(m.ID),
        Name: m.name,
        PeerURLs: m.peerURLs,
        ClientURLs: m.clientURLs,
        Reachable: false,
        IsLeader: false,
        DbSize: 0,
        Revision: 0,
        RaftIndex: 0,
        Version: "",
        Error: "",
      };
      if (m.clientURLs.length === 0) return { ...base, Error: "not started yet: it has no client URL" };
      const one = directEtcdClient(m.clientURLs, timeoutMs, undefined, tls);
      let timer: NodeJS.Timeout | undefined;
      try {
        const s = await Promise.race([
          one.maintenance.status({ deadline: Date.now() + timeoutMs }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              reject(new Error(`no answer within ${timeoutMs} ms`));
            }, timeoutMs);
          }),
        ]);
        return {
          ...base,
          Reachable: true,
          IsLeader: s.leader === m.ID,
          DbSize: Number(s.dbSize),
          Revision: Number(s.header.revision),
          RaftIndex: Number(s.raftIndex),
          Version: s.version,
          Error: s.errors.join("; "),
        };
      } catch (err) {
        return { ...base, Error: errorMessage(err) };
      } finally {
        clearTimeout(timer);
        one.close();
      }
    }),
  );
  return statuses.sort((a, b) => a.Name.localeCompare(b.Name) || a.ID.localeCompare(b.ID));
}
