import { createReadStream } from "node:fs";
import type Dockerode from "dockerode";
import { ErrorCode, type Logger } from "../../structs/index.js";
import type { RegistryAuth } from "./config.js";
import { DockerError, engineMessage, engineStatus } from "./errors.js";

/**
 * Makes sure `image` is on this node. A local image is used as it is, so nodes without a
 * registry run what was loaded onto them; a missing one is pulled. `forcePull` pulls even
 * when the image is here, to pick up a moved tag; if that pull fails (no registry reachable)
 * the local image still runs, with a warning, since refusing to start a task we can start
 * helps nobody.
 */
export async function ensureImage(docker: Dockerode, image: string, forcePull: boolean, pullTimeoutMs: number, log: Logger, auth?: RegistryAuth): Promise<void> {
  const present = await hasImage(docker, image);
  if (present && !forcePull) return;
  try {
    await pull(docker, image, pullTimeoutMs, auth);
  } catch (err) {
    const why = err instanceof DockerError ? err.message : engineMessage(err);
    if (present) {
      log.warn({ image, err }, "force_pull: pulling the image failed; running the local copy");
      return;
    }
    throw new DockerError(ErrorCode.DockerImageUnavailable, `image ${image} is not on this node and could not be pulled: ${why}`, { cause: err });
  }
}

/**
 * `load`: the image from an archive (`docker save`) in the task's directory, through the
 * engine's image load API, as Nomad's driver does: an image already here is used as it is,
 * unless its tag is "latest" or `forcePull` is set (then the archive, maybe a newer one, is
 * loaded again). The archive must hold the image the config names.
 */
export async function loadImage(docker: Dockerode, image: string, archive: string, forcePull: boolean): Promise<void> {
  if (!forcePull && !isLatest(image) && (await hasImage(docker, image))) return;
  const loaded: string[] = [];
  let failure: string | undefined;
  try {
    const stream = await docker.loadImage(createReadStream(archive), { quiet: true });
    await readLines(stream, (msg) => {
      if (typeof msg.error === "string") failure ??= msg.error;
      if (typeof msg.stream === "string") loaded.push(...msg.stream.split("\n").filter((l) => l.trim() !== "").map((l) => l.replace(/^Loaded image( ID)?: /, "")));
    });
  } catch (err) {
    throw new DockerError(ErrorCode.DockerImageUnavailable, `loading the image archive ${archive} (config.load) failed: ${engineMessage(err)}`, { cause: err });
  }
  if (failure !== undefined) throw new DockerError(ErrorCode.DockerImageUnavailable, `loading the image archive ${archive} (config.load) failed: ${failure}`);
  if (!(await hasImage(docker, image))) {
    throw new DockerError(ErrorCode.DockerImageUnavailable, `the image archive ${archive} (config.load) does not hold image ${image}; it holds: ${loaded.length === 0 ? "nothing" : loaded.join(", ")}`);
  }
}

/** Whether a reference names the tag "latest", written or implied (a digest names no tag). */
function isLatest(image: string): boolean {
  if (image.includes("@")) return false;
  const last = image.slice(image.lastIndexOf("/") + 1);
  const colon = last.indexOf(":");
  return colon < 0 || last.slice(colon + 1) === "latest";
}

/** Reads the engine's JSON-lines progress to its end; a line that is not JSON is noise. */
async function readLines(stream: NodeJS.ReadableStream, onMessage: (msg: Record<string, unknown>) => void): Promise<void> {
  let rest = "";
  const onLine = (line: string): void => {
    if (line.trim() === "") return;
    try {
      const msg: unknown = JSON.parse(line);
      if (typeof msg === "object" && msg !== null) onMessage(msg as Record<string, unknown>);
    } catch {
      // Not JSON: noise, not a verdict.
    }
  };
  for await (const chunk of stream) {
    rest += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    lines.forEach(onLine);
  }
  onLine(rest);
}

async function hasImage(docker: Dockerode, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (err) {
    if (engineStatus(err) === 404) return false;
    throw new DockerError(ErrorCode.DockerEngine, `looking up image ${image} failed: ${engineMessage(err)}`, { cause: err });
  }
}

/**
 * Pulls and reads the progress to its end. The engine reports a failure either as the
 * request's status or, once the pull has begun, as an `error` line in the progress.
 */
async function pull(docker: Dockerode, image: string, timeoutMs: number, auth?: RegistryAuth): Promise<void> {
  const abort = AbortSignal.timeout(timeoutMs);
  // The credentials go to the engine alone (X-Registry-Auth), which gives them to the registry.
  const stream = await docker.pull(image, { abortSignal: abort, ...(auth === undefined ? {} : { authconfig: auth }) });
  let rest = "";
  let failure: string | undefined;
  const onLine = (line: string): void => {
    if (line.trim() === "") return;
    try {
      const msg: unknown = JSON.parse(line);
      if (typeof msg === "object" && msg !== null && "error" in msg && failure === undefined) failure = String(msg.error);
    } catch {
      // Not JSON: progress noise, not a verdict.
    }
  };
  try {
    for await (const chunk of stream) {
      rest += typeof chunk === "string" ? chunk : chunk.toString("utf8");
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      lines.forEach(onLine);
    }
  } catch (err) {
    if (abort.aborted) throw new DockerError(ErrorCode.DockerImageUnavailable, `the pull took longer than ${Math.round(timeoutMs / 1000)}s`, { cause: err });
    throw err;
  }
  onLine(rest);
  if (failure !== undefined) throw new DockerError(ErrorCode.DockerImageUnavailable, failure);
}
