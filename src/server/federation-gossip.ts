import { ErrorCode, errorMessage, RucheError, silentLogger, type Logger } from "../structs/index.js";
import type { ClusterView, ServerInfo } from "./cluster.js";
import type { Federation, FederationJoinResult, FederationMember } from "./federation.js";

/**
 * How the servers of several regions find each other and keep their list: each server keeps
 * the other regions' servers in memory, and every round (2 s) asks one live server of each
 * region it knows, and its seeds not yet answered, what that server knows
 * (`POST /v1/internal/federation`, the asker's own knowledge in the body, so the asked one
 * learns of the asker too; a push is hearsay even on the pusher's region, since nothing proves
 * who sent it). An answer is the word of its region on its region (its
 * ClusterView: every server, the leader marked, failed and left ones) and hearsay on the
 * others, taken only for servers not yet known, alive as the answerer saw them: a third region
 * that joins any one is known to all after a round or two. A server that does not answer
 * `failAfterMisses` times in a row is `failed` here (shown, never chosen by `serverIn`); one
 * failed or left for `forgetAfterMs` is forgotten; one that answers again is `alive`. Each
 * round asks the region's leader while it answers, else the next server, and every failed one
 * (to see it come back). This server's own region is its ClusterView's, never the others' word.
 *
 * The core is I/O-free: the network is the `probe` function handed in (HTTP in the agent),
 * time is `now` and `elapsed`, and `round()` may be driven by a test.
 */

/** What a server says of the federation, in `POST /v1/internal/federation` both ways. */
export interface FederationAnswer {
  /** The server that speaks. */
  Name: string;
  Region: string;
  /** Every server it knows: its own region's from its ClusterView, the others' as it sees them. */
  Members: FederationMember[];
}

/** Asks the server at `address` what it knows, telling it what we know; rejects when it does not answer. */
export type FederationProbe = (address: string, ours: FederationAnswer, signal: AbortSignal) => Promise<unknown>;

export interface FederationGossipOptions {
  cluster: ClusterView;
  probe: FederationProbe;
  /** Addresses (host:port of a server's HTTP API) of other regions' servers, tried until one answers (`retry_join_wan`). */
  seeds?: readonly string[];
  /** Milliseconds between two rounds (2000). */
  intervalMs?: number;
  /** How long one server is given to answer (1000, at most the interval). */
  probeTimeoutMs?: number;
  /** Missed probes in a row after which a server is failed (3). */
  failAfterMisses?: number;
  /** Milliseconds a failed or left server is kept before it is forgotten (5 minutes). */
  forgetAfterMs?: number;
  /** The longest wait between two tries of a seed that does not answer (30 s); the first is the interval, doubled each time. */
  seedBackoffMaxMs?: number;
  /** Wall clock, ms (Date.now). */
  now?: () => number;
  /** A monotonic clock for round trips, ms (performance.now). */
  elapsed?: () => number;
  log?: Logger;
}

interface Known {
  member: FederationMember;
  /** Probes in a row it did not answer. */
  misses: number;
  /** When it was first seen failed or left, null while alive. */
  downSince: number | null;
  /** Whether its region's own answer to this server named it (else it was heard of through another server, and is chosen last). */
  confirmed: boolean;
}

interface Seed {
  nextTry: number;
  delayMs: number;
  tries: number;
}

type Target = { kind: "member"; region: string; name: string; address: string } | { kind: "seed"; address: string };

export class FederationGossip implements Federation {
  private readonly regionsKnown = new Map<string, Map<string, Known>>();
  private readonly seeds = new Map<string, Seed>();
  /** Per region, how many times its chosen server failed: the next round asks the next one. */
  private readonly cursor = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly failAfterMisses: number;
  private readonly forgetAfterMs: number;
  private readonly seedBackoffMaxMs: number;
  private readonly now: () => number;
  private readonly elapsed: () => number;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly opts: FederationGossipOptions) {
    this.intervalMs = opts.intervalMs ?? 2000;
    this.probeTimeoutMs = Math.min(opts.probeTimeoutMs ?? 1000, this.intervalMs);
    this.failAfterMisses = opts.failAfterMisses ?? 3;
    this.forgetAfterMs = opts.forgetAfterMs ?? 5 * 60_000;
    this.seedBackoffMaxMs = opts.seedBackoffMaxMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.elapsed = opts.elapsed ?? (() => performance.now());
    this.log = opts.log ?? silentLogger;
    for (const s of opts.seeds ?? []) this.seeds.set(s, { nextTry: 0, delayMs: this.intervalMs, tries: 0 });
  }

  private get self(): ServerInfo {
    return this.opts.cluster.self;
  }

  /** Starts the rounds: one at once, then one every interval until `stop`. */
  start(): void {
    const next = (): void => {
      if (this.stopping.signal.aborted) return;
      this.running = this.round()
        .catch((err: unknown) => {
          this.log.warn({ err }, "a federation round failed; the next one tries again");
        })
        .finally(() => {
          if (!this.stopping.signal.aborted) this.timer = setTimeout(next, this.intervalMs);
        });
    };
    next();
  }

  /** Stops the rounds and every probe under way. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  regions(): string[] {
    return [...new Set([this.self.Region, ...this.regionsKnown.keys()])].sort();
  }

  datacenters(): string[] {
    return [...new Set(this.members().map((m) => m.Datacenter).concat(this.self.Datacenter))].sort();
  }

  members(): FederationMember[] {
    const own: FederationMember[] = this.opts.cluster.members().map((m) => ({ ...m }));
    const others = [...this.regionsKnown.values()].flatMap((r) => [...r.values()].map((k) => ({ ...k.member })));
    return [...own, ...others.sort((a, b) => cmp(a.Region, b.Region) || cmp(a.Name, b.Name))];
  }

  serverIn(region: string): FederationMember | undefined {
    if (region === this.self.Region) return undefined;
    return pick([...(this.regionsKnown.get(region)?.values() ?? [])]);
  }

  serverInDatacenter(dc: string): FederationMember | undefined {
    return pick([...this.regionsKnown.values()].flatMap((r) => [...r.values()]).filter((k) => k.member.Datacenter === dc));
  }

  /** What this server says of the federation (`/v1/internal/federation`): round trips are this server's own, not told. */
  answer(): FederationAnswer {
    return { Name: this.self.Name, Region: this.self.Region, Members: this.members().map(({ RTT: _, ...m }) => m) };
  }

  /**
   * Another server's word, pushed with its probe: hearsay on every region, its own too (only
   * servers not yet known, alive as it saw them, are taken), since nothing proves who pushed
   * it; what is known of a region changes only by an answer to this server's own probe.
   */
  exchange(raw: unknown): FederationAnswer {
    const a = parseFederationAnswer(raw);
    if (a.Region !== this.self.Region) this.hearsay(a.Members);
    return this.answer();
  }

  /**
   * `ruche server join ADDR...` (Nomad's `PUT /v1/agent/join`, Consul's `?wan`): asks each
   * address now; one that answers as a server of another region (or of this cluster) counts.
   */
  async join(addresses: readonly string[]): Promise<FederationJoinResult> {
    const results = await Promise.all(addresses.map((a) => this.ask({ kind: "seed", address: a })));
    let joined = 0;
    const errors: string[] = [];
    results.forEach((r, i) => {
      const address = addresses[i] ?? "";
      if (!r.ok) {
        errors.push(`${address}: ${r.reason}`);
        return;
      }
      const why = this.take({ kind: "seed", address }, r.answer, r.rttMs);
      if (why === undefined) joined++;
      else errors.push(`${address}: ${why}`);
    });
    return { joined, error: errors.join("; ") };
  }

  /** One round: asks each target, takes the answers, marks the silent ones, forgets the long-gone ones. */
  async round(): Promise<void> {
    const now = this.now();
    const targets = this.targets(now);
    const results = await Promise.all(targets.map((t) => this.ask(t)));
    const at = this.now();
    results.forEach((r, i) => {
      const t = targets[i];
      if (t === undefined) return;
      if (r.ok) {
        const why = this.take(t, r.answer, r.rttMs);
        if (why !== undefined) this.log.warn({ address: t.address }, `federation: ${why}; it is not asked again`);
      } else {
        this.missed(t, r.reason, at);
      }
    });
    this.forget(at);
  }

  private targets(now: number): Target[] {
    const out: Target[] = [];
    for (const [region, members] of this.regionsKnown) {
      const all = [...members.values()];
      const live = all.filter((k) => k.member.Status === "alive").sort((a, b) => Number(b.confirmed) - Number(a.confirmed) || Number(b.member.Leader) - Number(a.member.Leader) || cmp(a.member.Name, b.member.Name));
      const chosen = live.length === 0 ? undefined : live[(this.cursor.get(region) ?? 0) % live.length];
      if (chosen !== undefined) out.push({ kind: "member", region, name: chosen.member.Name, address: chosen.member.HTTPAddr });
      for (const k of all) if (k.member.Status === "failed") out.push({ kind: "member", region, name: k.member.Name, address: k.member.HTTPAddr });
    }
    for (const [address, s] of this.seeds) if (s.nextTry <= now) out.push({ kind: "seed", address });
    return out;
  }

  private async ask(t: Target): Promise<{ ok: true; answer: FederationAnswer; rttMs: number } | { ok: false; reason: string }> {
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.probeTimeoutMs)]);
    const started = this.elapsed();
    try {
      const raw = await this.opts.probe(t.address, this.answer(), signal);
      return { ok: true, answer: parseFederationAnswer(raw), rttMs: Math.max(0, this.elapsed() - started) };
    } catch (err) {
      return { ok: false, reason: signal.aborted && !this.stopping.signal.aborted ? `no answer within ${this.probeTimeoutMs} ms` : errorMessage(err) };
    }
  }

  /** Takes an answer; returns why it is refused (a server of this region that is not of this cluster), else undefined. */
  private take(t: Target, a: FederationAnswer, rttMs: number): string | undefined {
    if (t.kind === "seed") this.seeds.delete(t.address);
    if (a.Region === this.self.Region) {
      if (a.Name === this.self.Name || this.opts.cluster.members().some((m) => m.Name === a.Name)) return undefined;
      return `${a.Name} at ${t.address} is a server of this region (${a.Region}) but not of this cluster: servers of one region form one cluster with retry_join when they start, not with a WAN join`;
    }
    if (t.kind === "member" && t.region !== a.Region) this.regionsKnown.get(t.region)?.delete(t.name);
    this.merge(a, rttMs);
    return undefined;
  }

  /**
   * Merges the answer of a server this one asked: its region as it says (the answerer itself
   * alive and reachable from here), the other regions' servers not yet known and alive as it
   * saw them.
   */
  private merge(a: FederationAnswer, rttMs: number): void {
    const now = this.now();
    const had = this.regionsKnown.get(a.Region) ?? new Map<string, Known>();
    const next = new Map<string, Known>();
    for (const m of a.Members.filter((x) => x.Region === a.Region)) {
      const old = had.get(m.Name);
      const { RTT: _, ...info } = m;
      if (m.Name === a.Name) {
        if (old !== undefined && old.member.Status !== "alive") this.log.info({ server: m.Name, region: m.Region }, "federation: a server of another region answers again");
        next.set(m.Name, { member: { ...info, Status: "alive", RTT: rttMs }, misses: 0, downSince: null, confirmed: true });
        continue;
      }
      // Its region says; but one that does not answer this server stays failed here until it does.
      const unreachable = old !== undefined && old.misses >= this.failAfterMisses;
      const status = m.Status === "alive" && unreachable ? "failed" : m.Status;
      const rtt = old?.member.RTT;
      next.set(m.Name, {
        member: { ...info, Status: status, ...(rtt === undefined ? {} : { RTT: rtt }) },
        misses: old?.misses ?? 0,
        downSince: status === "alive" ? null : (old?.downSince ?? now),
        confirmed: true,
      });
    }
    if (next.size > 0) {
      if (!this.regionsKnown.has(a.Region)) this.log.info({ region: a.Region, servers: [...next.keys()] }, "federation: a region joins");
      this.regionsKnown.set(a.Region, next);
    }
    this.hearsay(a.Members.filter((m) => m.Region !== a.Region));
  }

  /** Servers heard of: those of another region not yet known and alive as the teller saw them are taken; nothing known changes. */
  private hearsay(members: readonly FederationMember[]): void {
    for (const m of members) {
      if (m.Region === this.self.Region || m.Status !== "alive") continue;
      const region = this.regionsKnown.get(m.Region) ?? new Map<string, Known>();
      if (region.has(m.Name)) continue;
      if (region.size === 0) this.log.info({ region: m.Region, server: m.Name }, "federation: a region joins (heard of)");
      const { RTT: _, ...info } = m;
      region.set(m.Name, { member: { ...info, Leader: false }, misses: 0, downSince: null, confirmed: false });
      this.regionsKnown.set(m.Region, region);
    }
  }

  private missed(t: Target, reason: string, now: number): void {
    if (t.kind === "seed") {
      const s = this.seeds.get(t.address);
      if (s === undefined) return;
      s.tries++;
      if (s.tries === 1 || s.tries % 10 === 0) this.log.info({ address: t.address, tries: s.tries }, `federation: the server to join does not answer yet (${reason}); trying again`);
      s.nextTry = now + s.delayMs;
      s.delayMs = Math.min(s.delayMs * 2, this.seedBackoffMaxMs);
      return;
    }
    const k = this.regionsKnown.get(t.region)?.get(t.name);
    if (k === undefined) return;
    k.misses++;
    if (k.member.Status === "alive") this.cursor.set(t.region, (this.cursor.get(t.region) ?? 0) + 1);
    if (k.misses >= this.failAfterMisses && k.member.Status === "alive") {
      k.member = { ...k.member, Status: "failed" };
      k.downSince = now;
      this.log.warn({ server: t.name, region: t.region, address: t.address, reason }, "federation: a server of another region stopped answering: failed");
    }
  }

  private forget(now: number): void {
    for (const [region, members] of this.regionsKnown) {
      for (const [name, k] of members) {
        if (k.downSince !== null && now - k.downSince >= this.forgetAfterMs) {
          members.delete(name);
          this.log.info({ server: name, region }, "federation: forgot a server gone too long");
        }
      }
      if (members.size === 0) {
        this.regionsKnown.delete(region);
        this.cursor.delete(region);
      }
    }
  }
}

/** The leader of `known` if alive, else the first alive by name; those its region confirmed before those heard of. */
function pick(known: Known[]): FederationMember | undefined {
  const live = known.filter((k) => k.member.Status === "alive").sort((a, b) => Number(b.confirmed) - Number(a.confirmed) || Number(b.member.Leader) - Number(a.member.Leader) || cmp(a.member.Name, b.member.Name));
  return live[0]?.member;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const STATUSES = new Set(["alive", "failed", "left"]);

/** Another server's word, checked: the external input of the federation (a bad one is refused saying what and where). */
export function parseFederationAnswer(raw: unknown): FederationAnswer {
  const bad = (path: string, what: string): RucheError => new RucheError(ErrorCode.BadRequest, `federation answer: ${path} ${what}`, { path });
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("(body)", "must be a JSON object");
  const o = raw as Record<string, unknown>;
  const str = (v: unknown, path: string, empty = false): string => {
    if (typeof v !== "string" || (!empty && v === "") || v.length > 512) throw bad(path, empty ? "must be a string" : "must be a non-empty string");
    return v;
  };
  if (!Array.isArray(o.Members)) throw bad("Members", "must be a list");
  if (o.Members.length > 10_000) throw bad("Members", "holds too many servers");
  const members = o.Members.map((m: unknown, i): FederationMember => {
    if (typeof m !== "object" || m === null) throw bad(`Members[${i}]`, "must be an object");
    const x = m as Record<string, unknown>;
    const status = x.Status;
    if (typeof status !== "string" || !STATUSES.has(status)) throw bad(`Members[${i}].Status`, 'must be "alive", "failed" or "left"');
    return {
      Name: str(x.Name, `Members[${i}].Name`),
      Region: str(x.Region, `Members[${i}].Region`),
      Datacenter: str(x.Datacenter, `Members[${i}].Datacenter`),
      HTTPAddr: str(x.HTTPAddr, `Members[${i}].HTTPAddr`),
      ConsulAddr: str(x.ConsulAddr ?? "", `Members[${i}].ConsulAddr`, true),
      Build: str(x.Build ?? "", `Members[${i}].Build`, true),
      EtcdMember: str(x.EtcdMember ?? "", `Members[${i}].EtcdMember`, true),
      Status: status as FederationMember["Status"],
      Leader: x.Leader === true,
    };
  });
  return { Name: str(o.Name, "Name"), Region: str(o.Region, "Region"), Members: members };
}
