import type { Etcd3 } from "etcd3";
import { errorMessage, type Logger } from "../structs/index.js";
import { directEtcdClient, memberHexId, memberStatuses } from "./etcd-membership.js";
import type { EtcdTls } from "./etcd-tls.js";

/**
 * While a server that runs its own etcd member leads, etcd's own leader is kept on another
 * server's member. A server that dies as a whole (kill -9, its machine lost) takes its member
 * with it: were that member etcd's leader too, the two elections would add up. etcd first
 * elects a new leader (1 to 2 s), which then extends every lease by its election timeout as
 * it takes over, so the dead server's lease, and with it the leader key, would outlive it by
 * about 5 s instead of its 2 s TTL. With the two leaderships on different servers, a server's
 * death costs one election: Ruche's, or etcd's, never both at once.
 *
 * Once a second (`intervalMs`), the leader asks its own member whether it leads etcd; if it
 * does, it hands etcd's leadership to the reachable member furthest along in its log (etcd's
 * MoveLeader, as `etcdctl move-leader`). A member that does not answer is never chosen: a
 * transfer to it would hold etcd's writes for an election timeout.
 */
export interface EtcdLeaderAway {
  /** Starts the checks (the server was elected); nothing when they run already. */
  start(): void;
  /** Stops them (the server no longer leads, or stops); resolves once a check under way is over. */
  stop(): Promise<void>;
}

/** The leader's duty of keeping etcd's leader off its own member, whose client URL is `clientURL` (with `tls`, where the member speaks TLS). */
export function etcdLeaderAway(clientURL: string, log: Logger, intervalMs = 1000, tls?: EtcdTls): EtcdLeaderAway {
  let client: Etcd3 | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let current: Promise<void> = Promise.resolve();
  let lastError = "";
  const tick = async (c: Etcd3): Promise<void> => {
    try {
      const moved = await moveEtcdLeaderAway(c, tls);
      lastError = "";
      if (moved !== undefined) log.info({ from: moved.from, to: moved.to }, `etcd's leader was this server's member: moved to ${moved.to}'s, so that one server's death never takes both leaders`);
    } catch (err) {
      // Said once per kind of failure (etcd without a quorum answers the same every second).
      if (errorMessage(err) !== lastError) log.warn({ err: errorMessage(err) }, "could not check or move etcd's leader away from this server's member; trying again");
      lastError = errorMessage(err);
    }
  };
  const loop = (c: Etcd3): void => {
    current = tick(c).finally(() => {
      if (running && client === c) timer = setTimeout(() => { loop(c); }, intervalMs);
    });
  };
  return {
    start() {
      if (running) return;
      running = true;
      const c = directEtcdClient([clientURL], 1000, 3000, tls);
      client = c;
      loop(c);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      timer = undefined;
      const c = client;
      client = undefined;
      await current;
      c?.close();
    },
  };
}

/**
 * When the member `client` talks to leads etcd, moves etcd's leadership to the reachable
 * member with the highest raft index; the two members' names, or undefined when there was
 * nothing to do (it does not lead, or no other member answers).
 */
export async function moveEtcdLeaderAway(client: Etcd3, tls?: EtcdTls): Promise<{ from: string; to: string } | undefined> {
  const status = await client.maintenance.status();
  const self = status.header.member_id;
  if (status.leader !== self) return undefined;
  const members = await memberStatuses(client, 1000, tls);
  const selfHex = memberHexId(self);
  const from = members.find((m) => m.ID === selfHex)?.Name ?? selfHex;
  const target = members.filter((m) => m.Reachable && m.ID !== selfHex).sort((a, b) => b.RaftIndex - a.RaftIndex)[0];
  if (target === undefined) return undefined;
  await client.maintenance.moveLeader({ targetID: BigInt(`0x${target.ID}`).toString() });
  return { from, to: target.Name === "" ? target.ID : target.Name };
}
