import { constants, createBrotliCompress, createGzip } from "node:zlib";
import { Readable } from "node:stream";
import type { Options } from "./options.js";
import { header, replyHeader, type Reply, type Wrap } from "./types.js";

const ENCODINGS = ["gzip", "br"] as const;
type Encoding = (typeof ENCODINGS)[number];

/** `compress`: gzip or Brotli, as the client accepts, for bodies of at least `minResponseBodyBytes`. */
export interface CompressConfig {
  type: "compress";
  minResponseBodyBytes: number;
  excludedContentTypes: string[];
  includedContentTypes: string[];
  /** By preference when the client likes several alike. */
  encodings: Encoding[];
  /** The encoding used when the request has no Accept-Encoding; "" for none. */
  defaultEncoding: Encoding | "";
}

const mediaType = (v: string): string => (v.split(";")[0] ?? "").replace(/\s+/g, "").toLowerCase();

export function parseCompress(o: Options): CompressConfig {
  // `compress=true` alone turns it on with its defaults.
  o.str("");
  const excludedContentTypes = (o.list("excludedContentTypes") ?? []).map(mediaType);
  const includedContentTypes = (o.list("includedContentTypes") ?? []).map(mediaType);
  if (excludedContentTypes.length > 0 && includedContentTypes.length > 0) o.fail("includedContentTypes", "excludedContentTypes and includedContentTypes cannot both be given");
  const asked = (o.list("encodings") ?? ["zstd", "br", "gzip"]).map((e) => e.toLowerCase());
  const unknown = asked.find((e) => e !== "zstd" && !(ENCODINGS as readonly string[]).includes(e));
  if (unknown !== undefined) o.fail("encodings", `"${unknown}" is not one of zstd, br, gzip`);
  const encodings = asked.filter((e): e is Encoding => (ENCODINGS as readonly string[]).includes(e));
  if (encodings.length === 0) o.fail("encodings", "zstd is not implemented by this router: add br or gzip");
  const dflt = (o.str("defaultEncoding") ?? "").toLowerCase();
  if (dflt !== "" && !(ENCODINGS as readonly string[]).includes(dflt)) o.fail("defaultEncoding", "must be gzip or br");
  return { type: "compress", minResponseBodyBytes: o.int("minResponseBodyBytes", 1024, 0), excludedContentTypes, includedContentTypes, encodings, defaultEncoding: dflt as Encoding | "" };
}

/** The encoding to answer in, by the client's Accept-Encoding (q values; `*`), ties to the configuration's order; null for none. */
export function pickEncoding(accept: string | undefined, c: CompressConfig): Encoding | null {
  if (accept === undefined) return c.defaultEncoding === "" ? null : c.defaultEncoding;
  let best: Encoding | null = null;
  let bestQ = 0;
  const q = new Map<string, number>();
  for (const part of accept.split(",")) {
    const [name, ...params] = part.trim().split(";");
    if (name === undefined || name === "") continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    q.set(name.trim().toLowerCase(), qp === undefined ? 1 : Number(qp.slice(2)) || 0);
  }
  for (const e of c.encodings) {
    const v = q.get(e) ?? q.get("*") ?? 0;
    if (v > bestQ) {
      best = e;
      bestQ = v;
    }
  }
  return best;
}

/**
 * Compresses an answer when the client accepts an encoding, the answer has none, is not a gRPC
 * one, its type is not excluded (or is included), and its body has at least
 * `minResponseBodyBytes` (read up to that to know, when it gives no length): then
 * Content-Encoding is set, Content-Length dropped, and `Vary: Accept-Encoding` added.
 */
export function compress(c: CompressConfig): Wrap {
  return (next) => async (x) => {
    const encoding = x.method === "HEAD" ? null : pickEncoding(header(x, "accept-encoding"), c);
    const r = await next(x);
    if (encoding === null || r.status < 200 || r.status === 204 || r.status === 304 || r.headers["content-encoding"] !== undefined) return r;
    const type = mediaType(replyHeader(r, "content-type") ?? "");
    if (type.startsWith("application/grpc")) return r;
    if (c.includedContentTypes.length > 0 ? !c.includedContentTypes.includes(type) : c.excludedContentTypes.includes(type)) return r;
    const len = replyHeader(r, "content-length");
    let body: Buffer | AsyncIterable<Buffer> = r.body;
    if (len !== undefined) {
      if (Number(len) < c.minResponseBodyBytes) return r;
    } else if (!Buffer.isBuffer(body)) {
      // Read up to the minimum: a shorter body goes as it is.
      const it = body[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let n = 0;
      let ended = false;
      while (n < c.minResponseBodyBytes) {
        const step = await it.next();
        if (step.done === true) {
          ended = true;
          break;
        }
        head.push(step.value);
        n += step.value.length;
      }
      if (ended && n < c.minResponseBodyBytes) {
        r.body = Buffer.concat(head);
        return r;
      }
      body = (async function* () {
        yield* head;
        for (;;) {
          const step = await it.next();
          if (step.done === true) return;
          yield step.value;
        }
      })();
    } else if (body.length < c.minResponseBodyBytes) return r;
    const z = encoding === "gzip" ? createGzip() : createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : Readable.from(body);
    source.on("error", (err) => z.destroy(err));
    source.pipe(z);
    const out: Reply = { ...r, headers: { ...r.headers, "content-encoding": encoding }, body: z };
    delete out.headers["content-length"];
    const vary = replyHeader(r, "vary") ?? "";
    if (!vary.toLowerCase().split(",").map((s) => s.trim()).includes("accept-encoding")) out.headers.vary = vary === "" ? "Accept-Encoding" : `${vary}, Accept-Encoding`;
    return out;
  };
}
