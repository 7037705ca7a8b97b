import { arch } from "node:os";
import type { RegistryAuth } from "./config.js";
import { ctrError, type Ctr } from "./ctr.js";

/** What a task takes from its image's config (the OCI image config's `config`). */
export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

/**
 * An image reference as containerd names it (`refdocker.ParseDockerRef`): `docker.io` when it
 * names no registry, `library/` for an official image, `:latest` when it has no tag or digest.
 */
export function normalizeRef(ref: string): string {
  let name = ref.trim();
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasDomain) name = `docker.io/${slash < 0 ? "library/" : ""}${name}`;
  else if (first === "index.docker.io") name = `docker.io${name.slice(first.length)}`;
  if (name.startsWith("docker.io/") && name.split("/").length === 2) name = `docker.io/library/${name.slice("docker.io/".length)}`;
  const at = name.indexOf("@");
  if (at >= 0) {
    // A digest names the image; a tag beside it is dropped, as containerd does.
    const base = name.slice(0, at);
    const lastSlash = base.lastIndexOf("/");
    const colon = base.lastIndexOf(":");
    return `${colon > lastSlash ? base.slice(0, colon) : base}${name.slice(at)}`;
  }
  const lastSlash = name.lastIndexOf("/");
  return name.lastIndexOf(":") > lastSlash ? name : `${name}:latest`;
}

/** The digest of the image's index or manifest in the namespace; undefined when it is not there. */
async function imageDigest(ctr: Ctr, ref: string): Promise<string | undefined> {
  const table = await ctr.ok(["images", "ls"]);
  const digest = table.split("\n").map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === ref)?.[2];
  return digest?.startsWith("sha256:") === true ? digest : undefined;
}

/**
 * The image in the namespace, pulled (and unpacked) when it is not there yet, with the task's
 * or the node's credentials; resolves with the digest of its index or manifest.
 */
export async function ensureImage(ctr: Ctr, ref: string, auth: RegistryAuth | undefined, timeoutMs: number): Promise<string> {
  const have = await imageDigest(ctr, ref);
  if (have !== undefined) return have;
  const args = ["images", "pull"];
  if (auth !== undefined && auth.username !== "" && auth.password !== "") args.push("--user", `${auth.username}:${auth.password}`);
  const r = await ctr.run([...args, ref], { timeoutMs });
  if (r.code !== 0) throw new Error(`pulling image ${ref}: ${r.code === -2 ? `not done within image_pull_timeout (${timeoutMs / 1000}s)` : ctrError(r)}`);
  const pulled = await imageDigest(ctr, ref);
  if (pulled === undefined) throw new Error(`image ${ref} is not in containerd's namespace ${ctr.namespace} after its pull`);
  return pulled;
}

const GOARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

interface Descriptor {
  mediaType?: string;
  digest?: string;
  platform?: { os?: string; architecture?: string };
}

/** The image's config: its index or manifest (`digest`; the node's platform's), then the config it names, read from containerd's content store. */
export async function imageConfig(ctr: Ctr, ref: string, digest: string): Promise<ImageConfig> {
  const content = async (d: string): Promise<Record<string, unknown>> => JSON.parse(await ctr.ok(["content", "get", d])) as Record<string, unknown>;
  let doc = await content(digest);
  if (Array.isArray(doc.manifests)) {
    const want = GOARCH[arch()] ?? arch();
    const list = doc.manifests as Descriptor[];
    const m = list.find((x) => x.platform?.os === "linux" && x.platform.architecture === want);
    if (m?.digest === undefined) throw new Error(`image ${ref} has no manifest for linux/${want}`);
    doc = await content(m.digest);
  }
  const configDigest = (doc.config as Descriptor | undefined)?.digest;
  if (configDigest === undefined) throw new Error(`image ${ref}: its manifest names no config`);
  const cfg = ((await content(configDigest)).config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  return {
    env: strings(cfg.Env),
    entrypoint: strings(cfg.Entrypoint),
    cmd: strings(cfg.Cmd),
    workingDir: typeof cfg.WorkingDir === "string" && cfg.WorkingDir !== "" ? cfg.WorkingDir : "/",
    user: typeof cfg.User === "string" ? cfg.User : "",
  };
}
