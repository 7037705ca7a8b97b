import { open, readdir, realpath, stat, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import type { ServerResponse } from "node:http";
import { basename, isAbsolute, join, normalize, relative, sep } from "node:path";
import { ErrorCode, RucheError, sleep, type AllocFileInfo } from "../../structs/index.js";
import type { Reply, Request, Router } from "../http.js";
import type { NodeLocal } from "../node-local.js";
import { forward, resolveAllocId, type AllocLookup } from "./alloc-fs.js";

/** How often a followed file is looked at again, and how often a quiet stream sends a heartbeat frame (`{}`), as Nomad's. */
const POLL_MS = 250;
const HEARTBEAT_MS = 1000;
/** The largest piece of a file one frame carries (Nomad's frame size). */
const FRAME_BYTES = 64 * 1024;


/** Nomad's `api.StreamFrame`: empty fields left out (a heartbeat is `{}`). */
export interface StreamFrame {
  Offset?: number;
  /** Base64. */
  Data?: string;
  File?: string;
  FileEvent?: string;
}

/**
 * Nomad's `alloc fs`: the allocation directory of an allocation this agent runs, read by path
 * relative to it (`/`, `alloc/logs`, `web/local/config.json`). A path that leads out of it, by
 * `..` or by a symbolic link, is refused. Another agent forwards the request to the node's
 * agent, as it does logs.
 */
export function allocFileRoutes(r: Router, lookup: AllocLookup, local: NodeLocal | undefined): void {
  const target = async (req: Request): Promise<{ allocId: string; file: ResolvedPath } | { allocId: string; file: undefined }> => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return { allocId, file: undefined };
    if (local.allocDir === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent serves no allocation files");
    return { allocId, file: await resolveInAllocDir(local.allocDir(allocId), req.query.get("path") ?? "/") };
  };

  r.get("/v1/client/fs/ls/:alloc", async (req, res) => {
    const t = await target(req);
    if (t.file === undefined) return forward(lookup, t.allocId, req, res);
    const st = await statOf(t.file);
    if (!st.isDirectory()) throw new RucheError(ErrorCode.BadRequest, `${t.file.shown} is a file, not a directory`, { path: "path" });
    const names = (await readdir(t.file.real)).sort();
    const out: AllocFileInfo[] = [];
    for (const name of names) {
      const full = join(t.file.real, name);
      const s = await stat(full).catch(() => undefined);
      if (s !== undefined) out.push(await fileInfo(name, full, s));
    }
    return { body: out };
  });

  r.get("/v1/client/fs/stat/:alloc", async (req, res) => {
    const t = await target(req);
    if (t.file === undefined) return forward(lookup, t.allocId, req, res);
    const st = await statOf(t.file);
    return { body: await fileInfo(t.file.rel === "" ? "/" : basename(t.file.real), t.file.real, st) };
  });

  r.get("/v1/client/fs/cat/:alloc", async (req, res) => {
    const t = await target(req);
    if (t.file === undefined) return forward(lookup, t.allocId, req, res);
    const st = await statOf(t.file);
    if (st.isDirectory()) throw new RucheError(ErrorCode.BadRequest, `file "${t.file.shown}" is a directory`, { path: "path" });
    return sendRange(res, t.file.real, 0, -1);
  });

  r.get("/v1/client/fs/readat/:alloc", async (req, res) => {
    const t = await target(req);
    if (t.file === undefined) return forward(lookup, t.allocId, req, res);
    const offset = wholeNumber(req.query.get("offset"), "offset", 0);
    const limit = integer(req.query.get("limit"), "limit", -1);
    const st = await statOf(t.file);
    if (st.isDirectory()) throw new RucheError(ErrorCode.BadRequest, `file "${t.file.shown}" is a directory`, { path: "path" });
    return sendRange(res, t.file.real, offset, limit);
  });

  r.get("/v1/client/fs/stream/:alloc", async (req, res) => {
    const t = await target(req);
    if (t.file === undefined) return forward(lookup, t.allocId, req, res);
    const st = await statOf(t.file);
    if (st.isDirectory()) throw new RucheError(ErrorCode.BadRequest, `file "${t.file.shown}" is a directory`, { path: "path" });
    const origin = originOf(req.query.get("origin"));
    const offset = wholeNumber(req.query.get("offset"), "offset", 0);
    const follow = req.query.get("follow") !== "false";
    const plain = req.query.get("plain") === "true";
    const start = origin === "end" ? Math.max(0, st.size - offset) : Math.min(offset, st.size);
    const out = new FrameWriter(res, plain, req.signal);
    try {
      await streamFile(t.file.real, t.file.rel, start, follow, out, req.signal);
    } finally {
      out.end();
    }
    return { streamed: true };
  });
}

/** Origin of an offset: `start` (the default) or `end`. */
export function originOf(raw: string | null): "start" | "end" {
  if (raw === null || raw === "" || raw === "start") return "start";
  if (raw === "end") return "end";
  throw new RucheError(ErrorCode.BadRequest, `origin must be "start" or "end", got "${raw}"`, { path: "origin" });
}

function integer(raw: string | null, name: string, dflt: number): number {
  if (raw === null || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new RucheError(ErrorCode.BadRequest, `${name} must be a whole number, got "${raw}"`, { path: name });
  return n;
}

export function wholeNumber(raw: string | null, name: string, dflt: number): number {
  const n = integer(raw, name, dflt);
  if (n < 0) throw new RucheError(ErrorCode.BadRequest, `${name} must not be negative, got ${n}`, { path: name });
  return n;
}

/** A path inside an allocation directory: where it is on the host (links followed) and how it is named in it. */
export interface ResolvedPath {
  real: string;
  /** Relative to the allocation directory, "" for the directory itself. */
  rel: string;
  /** As the user gave it, for messages. */
  shown: string;
}

/**
 * `path` (relative to the allocation directory; a leading `/` is its root) resolved on the host.
 * `..` past the root and symbolic links that lead out of it are refused (400, 403); a path that
 * does not exist is 404.
 */
export async function resolveInAllocDir(root: string, path: string): Promise<ResolvedPath> {
  if (path.includes("\0")) throw new RucheError(ErrorCode.BadRequest, "path must not contain a NUL byte", { path: "path" });
  const rel = normalize(path.replace(/^\/+/, "") || ".");
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new RucheError(ErrorCode.BadRequest, `path "${path}" leads out of the allocation directory`, { path: "path" });
  const realRoot = await realpath(root).catch(() => {
    throw new RucheError(ErrorCode.NotFound, "the allocation directory is gone");
  });
  let real: string;
  try {
    real = await realpath(join(realRoot, rel));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new RucheError(ErrorCode.NotFound, `no file or directory "${path}" in the allocation directory`, { path: "path" });
    throw new RucheError(ErrorCode.BadRequest, `path "${path}": ${(err as Error).message}`, { path: "path" });
  }
  const inside = relative(realRoot, real);
  if (inside.startsWith(`..${sep}`) || inside === ".." || isAbsolute(inside)) {
    throw new RucheError(ErrorCode.Forbidden, `path "${path}" is a link that leads out of the allocation directory`, { path: "path" });
  }
  return { real, rel: inside, shown: path };
}

async function statOf(p: ResolvedPath): Promise<Stats> {
  try {
    return await stat(p.real);
  } catch {
    throw new RucheError(ErrorCode.NotFound, `no file or directory "${p.shown}" in the allocation directory`, { path: "path" });
  }
}

/** A file's `AllocFileInfo`; the content type guessed from its first bytes (text or not), as Nomad's agent does. */
export async function fileInfo(name: string, full: string, st: Stats): Promise<AllocFileInfo> {
  return {
    Name: name,
    IsDir: st.isDirectory(),
    Size: st.size,
    FileMode: goFileMode(st),
    ModTime: new Date(st.mtimeMs).toISOString(),
    ContentType: st.isFile() ? await contentType(full) : "",
  };
}

/** Go's `os.FileMode.String()`: type letters, then `rwxrwxrwx` (`drwxr-xr-x`, `-rw-r--r--`). */
export function goFileMode(st: Pick<Stats, "mode" | "isDirectory" | "isSymbolicLink" | "isFIFO" | "isSocket" | "isBlockDevice" | "isCharacterDevice">): string {
  let kind = "";
  if (st.isDirectory()) kind += "d";
  if (st.isSymbolicLink()) kind += "L";
  if (st.isBlockDevice()) kind += "D";
  if (st.isCharacterDevice()) kind += "Dc";
  if (st.isFIFO()) kind += "p";
  if (st.isSocket()) kind += "S";
  if ((st.mode & 0o4000) !== 0) kind += "u";
  if ((st.mode & 0o2000) !== 0) kind += "g";
  if ((st.mode & 0o1000) !== 0) kind += "t";
  const rwx = "rwxrwxrwx";
  let perm = "";
  for (let i = 0; i < 9; i++) perm += (st.mode & (1 << (8 - i))) !== 0 ? rwx.charAt(i) : "-";
  return (kind === "" ? "-" : kind) + perm;
}

async function contentType(full: string): Promise<string> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(full, "r");
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const head = buf.subarray(0, bytesRead);
    if (head.includes(0)) return "application/octet-stream";
    // Text when it decodes as UTF-8 (a character cut at the 512th byte aside).
    const text = new TextDecoder("utf-8", { fatal: false }).decode(head);
    return text.slice(0, -1).includes("\uFFFD") ? "application/octet-stream" : "text/plain; charset=utf-8";
  } catch {
    return "application/octet-stream";
  } finally {
    await fh?.close();
  }
}

/** The bytes of a file from `offset`, `limit` of them (all when negative or zero), as they are. */
async function sendRange(res: ServerResponse, file: string, offset: number, limit: number): Promise<Reply> {
  const fh = await open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const end = limit > 0 ? Math.min(size, offset + limit) : size;
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Math.max(0, end - offset), "x-content-type-options": "nosniff" });
    let pos = offset;
    const buf = Buffer.alloc(FRAME_BYTES);
    while (pos < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) break;
      if (!res.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise((resolve) => res.once("drain", resolve));
      pos += bytesRead;
    }
    res.end();
  } finally {
    await fh.close();
  }
  return { streamed: true };
}

/**
 * Writes Nomad's stream of `StreamFrame`s (one JSON object after another, a heartbeat `{}`
 * each second nothing else went), or with `plain` the data's bytes alone.
 */
export class FrameWriter {
  private last = Date.now();
  private readonly heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly plain: boolean,
    signal: AbortSignal,
  ) {
    res.writeHead(200, { "content-type": plain ? "text/plain; charset=utf-8" : "application/json", "cache-control": "no-cache", "x-content-type-options": "nosniff" });
    res.flushHeaders();
    if (!plain) {
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.last >= HEARTBEAT_MS) this.write({});
      }, HEARTBEAT_MS);
      signal.addEventListener("abort", () => { clearInterval(this.heartbeat); }, { once: true });
    }
  }

  async frame(f: StreamFrame, data?: Buffer): Promise<void> {
    if (this.plain) {
      if (data !== undefined && data.length > 0 && !this.res.write(data)) await new Promise((resolve) => this.res.once("drain", resolve));
      return;
    }
    if (!this.write(data === undefined ? f : { ...f, Data: data.toString("base64") })) await new Promise((resolve) => this.res.once("drain", resolve));
  }

  private write(f: StreamFrame): boolean {
    this.last = Date.now();
    return this.res.write(`${JSON.stringify(f)}\n`);
  }

  end(): void {
    clearInterval(this.heartbeat);
    this.res.end();
  }
}

/** A file's bytes from `start`, as frames; with `follow`, what is written to it after, until the client goes or the file is deleted. */
async function streamFile(real: string, rel: string, start: number, follow: boolean, out: FrameWriter, signal: AbortSignal): Promise<void> {
  let pos = start;
  const buf = Buffer.alloc(FRAME_BYTES);
  const stopped = (): boolean => signal.aborted;
  for (;;) {
    if (stopped()) return;
    let fh: FileHandle;
    try {
      fh = await open(real, "r");
    } catch {
      await out.frame({ File: rel, FileEvent: "file deleted", Offset: pos });
      return;
    }
    try {
      const size = (await fh.stat()).size;
      if (size < pos) {
        pos = 0;
        await out.frame({ File: rel, FileEvent: "file truncated", Offset: pos });
      }
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        await out.frame({ File: rel, Offset: pos }, Buffer.from(buf.subarray(0, bytesRead)));
        if (stopped()) return;
      }
    } finally {
      await fh.close();
    }
    if (!follow) return;
    await sleep(POLL_MS, signal).catch(() => undefined);
  }
}
