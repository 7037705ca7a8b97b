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
