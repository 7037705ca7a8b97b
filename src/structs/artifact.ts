/**
 * An artifact's source read as go-getter reads it (Nomad fetches artifacts with go-getter):
 * a forced getter (`git::…`), a URL, an absolute path; a `//subdir`; the magic query
 * parameters `archive`, `checksum`, `filename` (and git's `ref`, `depth`), with the
 * artifact's `options` set over the query first, as Nomad's `getURL` does. Pure: the
 * jobspec checks a source with it, the node fetches by what it says.
 */

/** The archive formats unpacked by their extension (go-getter's decompressors Ruche has). */
export const ARCHIVE_TYPES = ["tar.bz2", "tar.gz", "tar.xz", "tar", "tbz2", "tgz", "txz", "zip", "bz2", "gz", "xz"] as const;
export type ArchiveType = (typeof ARCHIVE_TYPES)[number];

/** Digest sizes in bytes of the checksum types go-getter checks. */
export const CHECKSUM_BYTES = { md5: 16, sha1: 20, sha256: 32, sha512: 64 } as const;
export type ChecksumType = keyof typeof CHECKSUM_BYTES;

export interface ArtifactChecksum {
  type: ChecksumType;
  /** Lower-case hex. */
  hex: string;
}

/** How a source is fetched: over HTTP, copied from the node's filesystem, or cloned with git. */
export type ArtifactGetter = "http" | "file" | "git";

export interface ArtifactSource {
  getter: ArtifactGetter;
  /**
   * http: the URL fetched (magic parameters removed); git: the repository as git is given
   * it (a URL, or a local path); file: the absolute path.
   */
  address: string;
  /** For a local path (file, or git from a local repository): the path, to check where it is; "" otherwise. */
  localPath: string;
  /** go-getter's `//subdir`: only this directory of what was fetched is kept. */
  subdir: string;
  archive: ArchiveType | null;
  checksum: ArtifactChecksum | null;
  /** `?filename=`: the file's name in mode "any" instead of the URL's last segment. */
  filename: string;
  /** git's `ref` (a branch, tag or commit) and `depth` (0: full history). */
  ref: string;
  depth: number;
}

export type ParsedArtifactSource = { ok: true; source: ArtifactSource } | { ok: false; reason: string };

const FORCED = /^([A-Za-z0-9]+)::(.+)$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const NOT_BUILT = "Ruche fetches artifacts over http(s), from local files and with git";

/** go-getter's `SourceDirSubdir`: `host/path//sub?q` → `host/path?q` and `sub`. */
export function splitSubdir(src: string): { src: string; subdir: string } {
  const q = src.indexOf("?");
  const stop = q >= 0 ? q : src.length;
  const scheme = src.slice(0, stop).indexOf("://");
  const offset = scheme >= 0 ? scheme + 3 : 0;
  let idx = src.slice(offset, stop).indexOf("//");
  if (idx < 0) return { src, subdir: "" };
  idx += offset;
  let subdir = src.slice(idx + 2);
  let rest = src.slice(0, idx);
  const sq = subdir.indexOf("?");
  if (sq >= 0) {
    rest += subdir.slice(sq);
    subdir = subdir.slice(0, sq);
  }
  return { src: rest, subdir };
}

/** A checksum as go-getter reads it: `type:hex`, or bare hex whose length says the type. */
export function parseChecksum(v: string): { ok: true; checksum: ArtifactChecksum } | { ok: false; reason: string } {
  const value = v.trim();
  if (value === "") return { ok: false, reason: "checksum value cannot be empty" };
  const parts = value.split(":");
  if (parts.length > 2 || parts[0] === "file") return { ok: false, reason: `checksum must be given as "type:value" (md5, sha1, sha256 or sha512); got "${value}" (checksum files are not supported)` };
  const [type, hex] = parts.length === 2 ? [parts[0] ?? "", parts[1] ?? ""] : [typeOfLength(value), value];
  if (!Object.hasOwn(CHECKSUM_BYTES, type)) return { ok: false, reason: parts.length === 2 ? `unsupported checksum type: ${type} (one of md5, sha1, sha256, sha512)` : `checksum "${value}" has no type and its length fits none: write it as "sha256:<hex>"` };
  const t = type as ChecksumType;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) return { ok: false, reason: `invalid checksum: "${hex}" is not hexadecimal` };
  if (hex.length !== CHECKSUM_BYTES[t] * 2) return { ok: false, reason: `invalid ${t} checksum: ${hex} (a ${t} sum has ${CHECKSUM_BYTES[t] * 2} hex digits)` };
  return { ok: true, checksum: { type: t, hex: hex.toLowerCase() } };
}

function typeOfLength(hex: string): string {
  for (const [t, n] of Object.entries(CHECKSUM_BYTES)) if (hex.length === n * 2) return t;
  return "";
}

/**
 * Reads an artifact's source and options (already interpolated) as go-getter would fetch
 * them; a source Ruche cannot fetch (s3, gcs, hg, a relative path) is refused, saying why.
 */
export function parseArtifactSource(raw: string, options: Readonly<Record<string, string>> | null): ParsedArtifactSource {
  let src = raw.trim();
  if (src === "") return { ok: false, reason: "source must be specified" };
  let forced = "";
  const f = FORCED.exec(src);
  if (f !== null) {
    forced = (f[1] ?? "").toLowerCase();
    src = f[2] ?? "";
  }
  // go-getter's detectors, for a source with no scheme.
  if (!SCHEME.test(src)) {
    const ssh = /^git@([^:/]+):(.+)$/.exec(src);
    if (ssh !== null) {
      forced ||= "git";
      src = `ssh://git@${ssh[1] ?? ""}/${ssh[2] ?? ""}`;
    } else if (/^(github\.com|gitlab\.com)\//.test(src)) {
      forced ||= "git";
      src = `https://${src}`;
    } else if (src.startsWith("/")) {
      src = `file://${src}`;
    } else if (/^[^/]*bitbucket\.org\//.test(src) || /\.s3[.-]|^s3\.|storage\.googleapis\.com/.test(src)) {
      return { ok: false, reason: `source "${raw}": ${NOT_BUILT} (not Bitbucket, S3 or GCS shorthands)` };
    } else {
      return { ok: false, reason: `source "${raw}" is neither a URL nor an absolute path (a relative path has nothing to be relative to)` };
    }
  }
  const split = splitSubdir(src);
  let url: URL;
  try {
    url = new URL(split.src);
  } catch {
    return { ok: false, reason: `source "${raw}" is not a valid URL` };
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  let getter: ArtifactGetter;
  const kind = forced === "" ? scheme : forced;
  switch (kind) {
    case "http":
    case "https":
      getter = "http";
      break;
    case "file":
      getter = "file";
      break;
    case "git":
      getter = "git";
      break;
    default:
      return { ok: false, reason: `download not supported for scheme '${kind}': ${NOT_BUILT}` };
  }
  if (forced === "http" || forced === "https") {
    if (scheme !== "http" && scheme !== "https") return { ok: false, reason: `source "${raw}": ${forced}:: needs an http(s) URL` };
  }
  // A repository named `*.git` is cloned, not copied or downloaded as a file.
  if (getter !== "git" && forced === "" && /\.git\/?$/.test(url.pathname)) getter = "git";
  if (getter === "git" && !["http", "https", "ssh", "git", "file"].includes(scheme)) return { ok: false, reason: `source "${raw}": git cannot clone a "${scheme}" URL` };
  if (getter === "file" && url.host !== "" && url.host !== "localhost") return { ok: false, reason: `source "${raw}": a file URL names a path on the node (file:///path), not host "${url.host}"` };
  for (const [k, v] of Object.entries(options ?? {})) url.searchParams.set(k, v);
  const q = url.searchParams;
  const take = (k: string): string => {
    const v = q.get(k) ?? "";
    q.delete(k);
    return v;
  };
  const archiveParam = take("archive");
  const checksumParam = take("checksum");
  const filename = take("filename");
  let ref = "";
  let depth = 0;
  if (getter === "git") {
    ref = take("ref");
    const d = take("depth");
    if (d !== "") {
      if (!/^\d+$/.test(d)) return { ok: false, reason: `depth must be a whole number of commits, got "${d}"` };
      depth = Number(d);
    }
    if (q.has("sshkey")) return { ok: false, reason: "the git option sshkey is not supported: give the node's git the key (its ~/.ssh), or clone over https" };
  }
  let archive: ArchiveType | null = null;
  if (archiveParam !== "") {
    if (!["false", "0", "f", "F", "FALSE", "False"].includes(archiveParam)) {
      if (!(ARCHIVE_TYPES as readonly string[]).includes(archiveParam)) return { ok: false, reason: `archive "${archiveParam}" is not a format Ruche unpacks (one of ${ARCHIVE_TYPES.join(", ")}, or false)` };
      archive = archiveParam as ArchiveType;
    }
  } else if (getter !== "git") {
    let best = 0;
    for (const t of ARCHIVE_TYPES) if (url.pathname.endsWith(`.${t}`) && t.length > best) [archive, best] = [t, t.length];
  }
  let checksum: ArtifactChecksum | null = null;
  if (checksumParam !== "") {
    const c = parseChecksum(checksumParam);
    if (!c.ok) return c;
    checksum = c.checksum;
  }
  const localPath = scheme === "file" ? decodeURIComponent(url.pathname) : "";
  let address: string;
  if (getter === "file") address = localPath;
  else if (getter === "git" && scheme === "file") address = localPath;
  else address = url.toString();
  return { ok: true, source: { getter, address, localPath, subdir: split.subdir, archive, checksum, filename, ref, depth } };
}
