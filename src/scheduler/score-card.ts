import { SCORE_META_TOP, SCORERS, Scorer, type NodeScoreMeta } from "../structs/index.js";

/** Each scorer's place in a card (its index in `SCORERS`), by the scorer's key: `SLOT.Binpack`. */
export const SLOT = Object.fromEntries(Object.keys(Scorer).map((k, i) => [k, i])) as Readonly<Record<keyof typeof Scorer, number>>;
/** Each scorer's bit in a card's masks. */
const BIT = Object.fromEntries(Object.entries(SLOT).map(([k, i]) => [k, 1 << i])) as Readonly<Record<keyof typeof Scorer, number>>;
const S = SCORERS.length;
const K = SCORE_META_TOP;

/**
 * The scores of the nodes one placement looks at. A node is scored by `begin`, one `add`
 * per scorer that has something to say, then `final` (their mean: the node's score); `keep`
 * then offers it to the best few so far, which `meta` gives as the placement's
 * `ScoreMetaData`. The parts are written where they are computed and read back from here:
 * one score per node, computed once.
 *
 * A placement scores about log2(N) nodes and an evaluation makes up to hundreds of
 * thousands of placements, each keeping its best few: typed arrays, not an object per node
 * scored; and once nodes come round again, a node whose scores are what they were when
 * its entry was made gives that entry again (entries are never changed once made), so
 * that most placements of a large evaluation make few new ones.
 */
export class ScoreCard {
  private readonly parts = new Float64Array(S);
  private mask = 0;
  private sum = 0;
  private n = 0;
  /**
   * The best nodes so far, best first (the first seen first among equals), by rank: node
   * index, final score, which parts are set, and the parts.
   */
  private readonly topNode = new Int32Array(K);
  private readonly topScore = new Float64Array(K);
  private readonly topMask = new Int32Array(K);
  private readonly topParts = new Float64Array(K * S);
  private count = 0;
  /** Entries made so far. */
  private entries = 0;
  /**
   * By node index: the entry last made for the node and the scores it holds. Made once the
   * card has made as many entries as there are nodes: only then do nodes come round again.
   */
  private made: { entry: (NodeScoreMeta | undefined)[]; score: Float64Array; mask: Int32Array; parts: Float64Array } | null = null;

  /** `nodes`: how many nodes the placer's list holds (node indexes are below it). */
  constructor(private readonly nodes: number) {}

  /** Starts a new placement: no node scored yet. */
  clear(): void {
    this.count = 0;
  }

  /** Starts scoring a node. */
  begin(): void {
    this.mask = 0;
    this.sum = 0;
    this.n = 0;
  }

  /** One scorer's say on the node being scored, in [-1, 1]; `slot` is the scorer's `SLOT`. */
  add(slot: number, value: number): void {
    this.parts[slot] = value;
    this.mask |= 1 << slot;
    this.sum += value;
    this.n++;
  }

  /** The node's score: the mean of what the scorers said. */
  final(): number {
    return this.sum / this.n;
  }

  /** Offers the node just scored (`node` is its index in the placer's list) to the best few. */
  keep(node: number, score: number): void {
    const top = this.topScore;
    // Its rank: after every node that scored as much or more (equals keep the order they were seen in).
    let rank = this.count;
    while (rank > 0 && score > (top[rank - 1] as number)) rank--;
    if (rank >= K) return;
    const last = Math.min(this.count, K - 1);
    for (let r = last; r > rank; r--) this.move(r - 1, r);
    if (this.count < K) this.count++;
    this.topNode[rank] = node;
    top[rank] = score;
    const mask = this.mask;
    this.topMask[rank] = mask;
    const base = rank * S;
    for (let i = 0; i < S; i++) if ((mask & (1 << i)) !== 0) this.topParts[base + i] = this.parts[i] as number;
  }

  /** Moves what rank `from` holds to rank `to`. */
  private move(from: number, to: number): void {
    this.topNode[to] = this.topNode[from] as number;
    this.topScore[to] = this.topScore[from] as number;
    this.topMask[to] = this.topMask[from] as number;
    const parts = this.topParts;
    for (let i = 0; i < S; i++) parts[to * S + i] = parts[from * S + i] as number;
  }

  /** The best nodes scored since `clear`, best first (the first seen first among equals). */
  meta(nodeId: (node: number) => string): NodeScoreMeta[] {
    const out = new Array<NodeScoreMeta>(this.count);
    for (let r = 0; r < this.count; r++) out[r] = this.entry(r, nodeId);
    return out;
  }

  /** The entry for what a slot holds: the node's last one if its scores are the same, else a new one. */
  private entry(slot: number, nodeId: (node: number) => string): NodeScoreMeta {
    const node = this.topNode[slot] as number;
    const score = this.topScore[slot] as number;
    const mask = this.topMask[slot] as number;
    const base = slot * S;
    const made = this.made;
    if (made !== null) {
      const last = made.entry[node];
      if (last !== undefined && made.score[node] === score && made.mask[node] === mask) {
        let same = true;
        for (let i = 0; i < S && same; i++) if ((mask & (1 << i)) !== 0 && made.parts[node * S + i] !== this.topParts[base + i]) same = false;
        if (same) return last;
      }
    }
    const entry: NodeScoreMeta = { NodeID: nodeId(node), Scores: this.scoresOf(slot), NormScore: score };
    if (made !== null) {
      made.entry[node] = entry;
      made.score[node] = score;
      made.mask[node] = mask;
      for (let i = 0; i < S; i++) made.parts[node * S + i] = this.topParts[base + i] as number;
    } else if (++this.entries >= this.nodes) {
      this.made = { entry: new Array<NodeScoreMeta | undefined>(this.nodes), score: new Float64Array(this.nodes), mask: new Int32Array(this.nodes), parts: new Float64Array(this.nodes * S) };
    }
    return entry;
  }

  /**
   * The parts a slot holds, by scorer name. The usual sets (the fit scorer, with or without
   * job anti-affinity) are object literals, made at their exact size in one step: this
   * runs for every entry of every placement, and a placement's metric is kept as long as
   * its allocation. Any other set is built name by name.
   */
  private scoresOf(slot: number): Record<string, number> {
    const p = this.topParts;
    const b = slot * S;
    const mask = this.topMask[slot] as number;
    if (mask === BIT.Binpack) return { binpack: p[b + SLOT.Binpack] as number } satisfies Partial<Record<Scorer, number>>;
    if (mask === (BIT.Binpack | BIT.JobAntiAffinity)) return { binpack: p[b + SLOT.Binpack] as number, "job-anti-affinity": p[b + SLOT.JobAntiAffinity] as number } satisfies Partial<Record<Scorer, number>>;
    if (mask === BIT.Spread) return { spread: p[b + SLOT.Spread] as number } satisfies Partial<Record<Scorer, number>>;
    if (mask === (BIT.Spread | BIT.JobAntiAffinity)) return { spread: p[b + SLOT.Spread] as number, "job-anti-affinity": p[b + SLOT.JobAntiAffinity] as number } satisfies Partial<Record<Scorer, number>>;
    if (mask === BIT.Random) return { random: p[b + SLOT.Random] as number } satisfies Partial<Record<Scorer, number>>;
    if (mask === (BIT.Random | BIT.JobAntiAffinity)) return { random: p[b + SLOT.Random] as number, "job-anti-affinity": p[b + SLOT.JobAntiAffinity] as number } satisfies Partial<Record<Scorer, number>>;
    const scores: Record<string, number> = {};
    for (let i = 0; i < S; i++) if ((mask & (1 << i)) !== 0) scores[SCORERS[i] as Scorer] = p[b + i] as number;
    return scores;
  }
}
