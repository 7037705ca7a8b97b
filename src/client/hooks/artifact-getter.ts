import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, cp, lstat, mkdir, mkdtemp, readdir, readlink, realpath, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Agent, fetch } from "undici";
import { errorMessage, type ArchiveType, type ArtifactMode, type ArtifactSource } from "../../structs/index.js";

/** What one artifact fetch is given; the source already read (`parseArtifactSource`) from interpolated strings. */
export interface FetchRequest {
  source: ArtifactSource;
  /** Absolute: the directory (or, in mode "file", the file) where the artifact lands. */
  dest: string;
  mode: ArtifactMode;
  headers: Readonly<Record<string, string>>;
  /** https without checking the server's certificate (`insecure = true`). */
  insecure: boolean;
  /** The allocation's directory: what is unpacked may not point out of it. */
  allocDir: string;
  /** Where a local source may be read from; null: anywhere the agent can read. */
  localRoots: readonly string[] | null;
  /** Where temporary downloads go (removed after). */
  tmpDir: string;
  signal: AbortSignal;
}

/** A fetch that failed for a reason a retry cannot change (the artifact as written is wrong). */
export class ArtifactError extends Error {
  constructor(
    message: string,
    readonly recoverable: boolean,
  ) {
    super(message);
  }
}

const DIR_ONLY = new Set<ArchiveType>(["tar", "tar.gz", "tgz", "tar.bz2", "tbz2", "tar.xz", "txz", "zip"]);

/**
 * Fetches an artifact as go-getter's `Client.Get` does: an archive is downloaded to a
 * temporary file, its checksum checked, and unpacked into the destination; in mode "any" a
 * file lands in the destination directory under its URL's last segment (or `filename`), a
 * directory (a local one, a git repository) is the destination; `//subdir` keeps only that
 * directory. Unpacking uses the node's `tar`, `unzip`, `bzip2` and `xz` (Debian's), run
 * with an argument vector.
 */
export async function fetchArtifact(req: FetchRequest): Promise<void> {
  const src = req.source;
  const work = await mkdtemp(join(req.tmpDir, "artifact-"));
  try {
    let dst = req.dest;
    let realDst = "";
    if (src.subdir !== "") {
      realDst = dst;
      dst = join(work, "subdir");
    }
    let mode: ArtifactMode = req.mode;
    let unpackTo = "";
    let unpackDir = false;
    if (src.archive !== null) {
      unpackTo = dst;
      unpackDir = mode !== "file";
      dst = join(work, "archive");
      mode = "file";
    }
    if (mode === "any") {
      mode = await clientMode(req);
      if (mode === "file") {
        const name = basename(src.filename !== "" ? src.filename : fileName(src));
        if (name === "" || name === "." || name === "..") throw new ArtifactError(`the source names no file ("${name}"): give a destination file with mode = "file", or options { filename = "..." }`, false);
        dst = join(dst, name);
      }
    }
    if (mode === "file") {
      await getFile(req, dst);
      if (src.checksum !== null) await checksum(dst, src.checksum.type, src.checksum.hex);
      if (src.archive !== null) {
        await unpack(src.archive, dst, unpackTo, unpackDir, req.signal);
        await refuseEscapingLinks(unpackTo, req.allocDir);
        dst = unpackTo;
      }
    } else {
      if (src.checksum !== null) throw new ArtifactError("checksum cannot be specified for directory download", false);
      await getDir(req, dst);
    }
    if (src.subdir !== "") {
      const from = resolve(dst, src.subdir);
      if (relative(dst, from).startsWith("..")) throw new ArtifactError(`subdir "${src.subdir}" leaves what was fetched`, false);
      if (!(await stat(from).catch(() => null))?.isDirectory()) throw new ArtifactError(`subdir "${src.subdir}" is not a directory of what was fetched`, false);
      await rm(realDst, { recursive: true, force: true });
      await mkdir(realDst, { recursive: true });
      await copyTree(from, realDst);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The name a file fetched in mode "any" takes: its URL's (or path's) last segment. */
function fileName(src: ArtifactSource): string {
  if (src.localPath !== "") return basename(src.localPath);
  const segment = basename(new URL(src.address).pathname);
  try {
    // Decoded, then cut to its last segment again: an encoded "/" names no directory.
    return basename(decodeURIComponent(segment));
  } catch {
    return segment;
  }
}

/** go-getter's `ClientMode`: what a source is when the artifact's mode is "any". */
async function clientMode(req: FetchRequest): Promise<ArtifactMode> {
  switch (req.source.getter) {
    case "http":
      return "file";
    case "git":
      return "dir";
    case "file": {
      const st = await stat(await localPath(req)).catch((err: unknown) => {
        throw new ArtifactError(`reading the local source: ${errorMessage(err)}`, true);
      });
      return st.isDirectory() ? "dir" : "file";
    }
  }
}

/** A local source's real path, checked to be where this node lets artifacts be read from. */
async function localPath(req: FetchRequest): Promise<string> {
  const p = req.source.localPath;
  const real = await realpath(p).catch((err: unknown) => {
    throw new ArtifactError(`local source ${p}: ${errorMessage(err)}`, true);
  });
  const roots = req.localRoots;
  if (roots !== null && !roots.some((r) => real === r || real.startsWith(r + sep))) {
    throw new ArtifactError(
      `local source ${p} is outside the allocation directory: on a node that does not run raw_exec tasks, an artifact reads no other file of the node (as Nomad's artifact filesystem isolation); serve it over http(s)`,
      false,
    );
  }
  return real;
}

async function getFile(req: FetchRequest, dst: string): Promise<void> {
  await mkdir(dirname(dst), { recursive: true });
  switch (req.source.getter) {
    case "http":
      await download(req, dst);
      return;
    case "file": {
      const from = await localPath(req);
      if ((await stat(from)).isDirectory()) throw new ArtifactError(`local source ${req.source.localPath} is a directory: mode "file" cannot hold it`, false);
      await copyFile(from, dst);
      return;
    }
    case "git":
      throw new ArtifactError('a git repository is a directory: mode "file" cannot hold it', false);
  }
}

async function getDir(req: FetchRequest, dst: string): Promise<void> {
  switch (req.source.getter) {
    case "http":
      throw new ArtifactError('an http source fetched as a directory must be an archive (.tar.gz, .zip, …) or a git repository', false);
    case "file": {
      const from = await localPath(req);
      if (!(await stat(from)).isDirectory()) throw new ArtifactError(`local source ${req.source.localPath} is a file: mode "dir" needs a directory`, false);
      await mkdir(dst, { recursive: true });
      await copyTree(from, dst);
      return;
    }
    case "git":
      await gitClone(req, dst);
      return;
  }
}

/** Copies a directory's contents, refusing symlinks (go-getter's `DisableSymlinks`, as Nomad sets it). */
async function copyTree(from: string, to: string): Promise<void> {
  await cp(from, to, {
    recursive: true,
    force: true,
    filter: async (p) => {
      if ((await lstat(p)).isSymbolicLink()) throw new ArtifactError(`copying symlinks is disabled: ${p}`, false);
      return true;
    },
  });
}

let insecureAgent: Agent | null = null;

async function download(req: FetchRequest, dst: string): Promise<void> {
  insecureAgent ??= req.insecure ? new Agent({ connect: { rejectUnauthorized: false } }) : null;
  const res = await fetch(req.source.address, {
    headers: { ...req.headers },
    signal: req.signal,
    redirect: "follow",
    ...(req.insecure && insecureAgent !== null ? { dispatcher: insecureAgent } : {}),
  }).catch((err: unknown) => {
    const cause = err instanceof Error && err.cause !== undefined ? `: ${errorMessage(err.cause)}` : "";
    throw new ArtifactError(`${errorMessage(err)}${cause}`, true);
  });
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => undefined);
    throw new ArtifactError(`bad response code: ${res.status}`, true);
  }
  await pipeline(Readable.fromWeb(res.body), createWriteStream(dst), { signal: req.signal });
}

/** go-getter's checksum: the file's digest against the expected one. */
async function checksum(file: string, type: string, expected: string): Promise<void> {
  const h = createHash(type);
  await pipeline(createReadStream(file), h);
  const got = h.digest("hex");
  if (got !== expected) throw new ArtifactError(`Checksums did not match for ${basename(file)}. Expected: ${expected} Got: ${got}`, true);
}

async function unpack(type: ArchiveType, archive: string, to: string, dir: boolean, signal: AbortSignal): Promise<void> {
  if (dir && !DIR_ONLY.has(type)) throw new ArtifactError(`a .${type} file unpacks to a single file: use mode "file"`, false);
  if (!dir && DIR_ONLY.has(type)) {
    await unpackSingle(type, archive, to, signal);
    return;
  }
  if (dir) await mkdir(to, { recursive: true });
  else await mkdir(dirname(to), { recursive: true });
  switch (type) {
    case "tar":
    case "tar.gz":
    case "tgz":
    case "tar.bz2":
    case "tbz2":
    case "tar.xz":
    case "txz": {
      // Not the archive's owners (the agent may be root); GNU tar refuses members with `..` and absolute names.
      await run("tar", ["-x", ...tarFlags(type), "-f", archive, "-C", to, "--no-same-owner"], "tar", signal);
      return;
    }
    case "zip":
      await run("unzip", ["-o", "-q", archive, "-d", to], "unzip", signal);
      return;
    case "gz":
      await pipeline(createReadStream(archive), createGunzip(), createWriteStream(to), { signal });
      return;
    case "bz2":
      await decompressTo("bzip2", archive, to, signal);
      return;
    case "xz":
      await decompressTo("xz", archive, to, signal);
      return;
  }
}

/**
 * go-getter's decompressors with `dir = false` (mode "file"): an archive of one entry, a
 * file, unpacks to that file at the destination, whatever its path in the archive; an empty
 * one, or one of more entries (a directory too), is refused ("expected a single file").
 */
async function unpackSingle(type: ArchiveType, archive: string, to: string, signal: AbortSignal): Promise<void> {
  const listing = type === "zip" ? await run("unzip", ["-Z1", archive], "unzip", signal) : await run("tar", ["-t", ...tarFlags(type), "-f", archive], "tar", signal);
  const entries = listing.split("\n").filter((l) => l !== "");
  const [only] = entries;
  if (only === undefined) throw new ArtifactError(`empty archive: the ${type} archive holds no file`, false);
  if (entries.length > 1 || only.endsWith("/")) throw new ArtifactError(`expected a single file: the ${type} archive holds ${entries.length > 1 ? `${entries.length} entries` : "a directory"}, and mode "file" takes one file`, false);
  const into = await mkdtemp(join(dirname(archive), "single-"));
  try {
    await unpack(type, archive, into, true, signal);
    const file = await onlyFile(into);
    if (file === null) throw new ArtifactError(`expected a single file: the ${type} archive's entry ${only} is not a regular file`, false);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(file, to);
  } finally {
    await rm(into, { recursive: true, force: true });
  }
}

/** The one regular file under a directory (its parents made by the unpacking aside); null if none. */
async function onlyFile(dir: string): Promise<string | null> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile()) return p;
    if (e.isDirectory()) {
      const inner = await onlyFile(p);
      if (inner !== null) return inner;
    }
  }
  return null;
}

function tarFlags(type: ArchiveType): string[] {
  return type === "tar" ? [] : type === "tar.gz" || type === "tgz" ? ["-z"] : type === "tar.bz2" || type === "tbz2" ? ["-j"] : ["-J"];
}

/** Runs a tool of the node; a missing one says which Debian package brings it. */
function run(cmd: string, args: string[], pkg: string, signal: AbortSignal, cwd?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { signal, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" }, ...(cwd === undefined ? {} : { cwd }) }, (err, stdout, stderr) => {
      if (err === null) {
        resolvePromise(stdout);
        return;
      }
      if ((err as NodeJS.ErrnoException).code === "ENOENT") reject(new ArtifactError(`${cmd} is not installed on this node (Debian package ${pkg})`, false));
      else reject(new ArtifactError(`${cmd} failed: ${stderr.trim() || err.message}`, true));
    });
  });
}

/** `bzip2 -dc` / `xz -dc` into a file. */
async function decompressTo(cmd: "bzip2" | "xz", archive: string, to: string, signal: AbortSignal): Promise<void> {
  const out = createWriteStream(to);
  const child = spawn(cmd, ["-dc", archive], { stdio: ["ignore", "pipe", "pipe"], signal });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number>((resolvePromise, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "ENOENT" ? new ArtifactError(`${cmd} is not installed on this node (Debian package ${cmd === "xz" ? "xz-utils" : "bzip2"})`, false) : err);
    });
    child.on("close", (code) => {
      resolvePromise(code ?? -1);
    });
  });
  await pipeline(child.stdout, out);
  const code = await exited;
  if (code !== 0) throw new ArtifactError(`${cmd} failed: ${stderr.trim()}`, true);
}

/** go-getter's git getter: clone (shallow with `depth`), then check out `ref`; an existing clone is updated. */
async function gitClone(req: FetchRequest, dst: string): Promise<void> {
  const src = req.source;
  const address = src.localPath !== "" ? await localPath(req) : src.address;
  const hasClone = (await stat(join(dst, ".git")).catch(() => null)) !== null;
  if (hasClone) {
    await run("git", ["-C", dst, "fetch", ...(src.depth > 0 ? [`--depth=${src.depth}`] : []), "origin", ...(src.ref !== "" ? [src.ref] : [])], "git", req.signal);
    await run("git", ["-C", dst, "checkout", "--force", src.ref !== "" ? "FETCH_HEAD" : "origin/HEAD"], "git", req.signal);
    return;
  }
  await mkdir(dirname(dst), { recursive: true });
  const nonEmpty = (await readdir(dst).catch(() => [])).length > 0;
  // git clones only into an empty directory: a non-empty destination (`local/` with files) gets the clone beside them.
  const into = nonEmpty ? await mkdtemp(join(req.tmpDir, "clone-")) : dst;
  const shallow = src.depth > 0 ? [`--depth=${src.depth}`, ...(src.ref !== "" ? ["--branch", src.ref] : [])] : [];
  // `--` ends the options: an address or path from the job never reads as one.
  await run("git", ["clone", ...shallow, "--", src.localPath !== "" ? `file://${address}` : address, into], "git", req.signal);
  if (src.ref !== "" && src.depth === 0) await run("git", ["-C", into, "checkout", src.ref], "git", req.signal);
  if (nonEmpty) {
    await cp(into, dst, { recursive: true, force: true, verbatimSymlinks: true });
    await rm(into, { recursive: true, force: true });
  }
  await refuseEscapingLinks(dst, req.allocDir);
}

/** Symlinks that what was unpacked or cloned left pointing out of the allocation's directory: refused, and removed. */
async function refuseEscapingLinks(dir: string, allocDir: string): Promise<void> {
  const bad: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        const target = resolve(dirname(p), await readlink(p));
        const rel = relative(allocDir, target);
        if (rel === ".." || rel.startsWith(`..${sep}`) || resolve(allocDir, rel) !== target) bad.push(relative(dir, p));
      } else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  if (bad.length === 0) return;
  for (const b of bad) await rm(join(dir, b), { force: true });
  throw new ArtifactError(`the artifact holds symlinks that point out of the allocation directory: ${bad.slice(0, 5).join(", ")}`, false);
}
