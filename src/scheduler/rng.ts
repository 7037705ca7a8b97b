/**
 * A seeded random source. The scheduler has no randomness of its own: every shuffle and
 * every dynamic port comes from a generator seeded by the evaluation's id, so a placement
 * can be replayed exactly.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** A version-4-shaped UUID drawn from this generator. */
  uuid(): string;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** xmur3 string hash → sfc32 generator: small, fast, and good enough for shuffles. */
export function seededRng(seed: string): Rng {
  let h = 1779033703 ^ seed.length;
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  const mix = (): number => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return (h ^= h >>> 16) >>> 0;
  };
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const u32 = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  const hx = (x: number, shift: number): string => HEX[(x >>> shift) & 0xff] as string;
  return {
    next: () => u32() / 4294967296,
    int: (n) => Math.floor((u32() / 4294967296) * n),
    uuid: () => {
      const a = u32();
      const b = u32();
      const c = u32();
      const d = u32();
      return (
        hx(a, 24) + hx(a, 16) + hx(a, 8) + hx(a, 0) + "-" +
        hx(b, 24) + hx(b, 16) + "-" + (HEX[0x40 | ((b >>> 8) & 0x0f)] as string) + hx(b, 0) + "-" +
        (HEX[0x80 | ((c >>> 24) & 0x3f)] as string) + hx(c, 16) + "-" + hx(c, 8) + hx(c, 0) +
        hx(d, 24) + hx(d, 16) + hx(d, 8) + hx(d, 0)
      );
    },
  };
}
