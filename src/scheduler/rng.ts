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

/** The two hex digits of each byte, as character codes. */
const HEX = Uint16Array.from({ length: 512 }, (_, i) => "0123456789abcdef".charCodeAt(i % 2 === 0 ? (i >> 1) >> 4 : (i >> 1) & 0x0f));
const DASH = 45;
/** The characters of the UUID being made (one at a time: the scheduler is synchronous). */
const UUID = new Uint16Array(36);
function hex8(at: number, byte: number): void {
  UUID[at] = HEX[byte * 2] as number;
  UUID[at + 1] = HEX[byte * 2 + 1] as number;
}
function hex32(at: number, x: number): void {
  hex8(at, x >>> 24);
  hex8(at + 2, (x >>> 16) & 0xff);
  hex8(at + 4, (x >>> 8) & 0xff);
  hex8(at + 6, x & 0xff);
}

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
  return {
    next: () => u32() / 4294967296,
    int: (n) => Math.floor((u32() / 4294967296) * n),
    uuid: () => {
      const a = u32();
      const b = u32();
      const c = u32();
      const d = u32();
      hex32(0, a);
      UUID[8] = DASH;
      hex8(9, b >>> 24);
      hex8(11, (b >>> 16) & 0xff);
      UUID[13] = DASH;
      hex8(14, 0x40 | ((b >>> 8) & 0x0f));
      hex8(16, b & 0xff);
      UUID[18] = DASH;
      hex8(19, 0x80 | ((c >>> 24) & 0x3f));
      hex8(21, (c >>> 16) & 0xff);
      UUID[23] = DASH;
      hex8(24, (c >>> 8) & 0xff);
      hex8(26, c & 0xff);
      hex32(28, d);
      // One flat string from the characters: an allocation is made for every placement.
      return String.fromCharCode.apply(null, UUID as unknown as number[]);
    },
  };
}
