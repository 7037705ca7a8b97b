/**
 * A container registry for tests (no registry can be reached here): Docker's Registry HTTP
 * API v2, read-only, enough for the engine's `docker pull` — the `/v2/` ping, manifests
 * (schema 2) and blobs — serving one image made from a local one (`docker save`, each layer
 * gzipped), behind HTTP basic authentication as a private registry answers. The engine
 * pulls from 127.0.0.1 over plain HTTP (loopback registries are insecure ones by default).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const exec = promisify(execFile);

export interface TestRegistry {
  /** "127.0.0.1:PORT", the registry part of an image name. */
  address: string;
  /** Pull requests that came with the right credentials, and those refused. */
  pulls: { authorized: number; refused: number };
  close(): Promise<void>;
}

const MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json";

function digest(b: Buffer): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

/** Serves the local image `from` as `<address>/<name>:<tag>` to a client that gives `user`:`password`. */
export async function startTestRegistry(from: string, name: string, tag: string, user: string, password: string): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "ruche-test-registry-"));
  const blobs = new Map<string, Buffer>();
  let manifest: Buffer;
  try {
    await exec("docker", ["save", from, "-o", join(dir, "image.tar")]);
    await exec("tar", ["-xf", join(dir, "image.tar"), "-C", dir]);
    const saved = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { Config: string; Layers: string[] }[];
    const first = saved[0];
    if (first === undefined) throw new Error(`docker save ${from} wrote no image`);
    const config = await readFile(join(dir, first.Config));
    blobs.set(digest(config), config);
    const layers: { mediaType: string; size: number; digest: string }[] = [];
    for (const l of first.Layers) {
      const gz = gzipSync(await readFile(join(dir, l)));
      blobs.set(digest(gz), gz);
      layers.push({ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: gz.length, digest: digest(gz) });
    }
    manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: digest(config) }, layers }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const pulls = { authorized: 0, refused: 0 };
  const authorized = (req: IncomingMessage): boolean => req.headers.authorization === expected;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (!authorized(req)) {
      if (path.includes("/manifests/")) pulls.refused += 1;
      res.writeHead(401, { "www-authenticate": 'Basic realm="ruche-test-registry"', "docker-distribution-api-version": "registry/2.0", "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    const send = (type: string, body: Buffer, d: string): void => {
      res.writeHead(200, { "content-type": type, "content-length": body.length, "docker-content-digest": d, "docker-distribution-api-version": "registry/2.0" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (path === "/v2/" || path === "/v2") {
      res.writeHead(200, { "docker-distribution-api-version": "registry/2.0", "content-type": "application/json" });
      res.end("{}");
      return;
    }
    if (path === `/v2/${name}/manifests/${tag}` || path === `/v2/${name}/manifests/${digest(manifest)}`) {
      pulls.authorized += 1;
      send(MANIFEST_TYPE, manifest, digest(manifest));
      return;
    }
    const blob = path.startsWith(`/v2/${name}/blobs/`) ? blobs.get(path.slice(`/v2/${name}/blobs/`.length)) : undefined;
    if (blob !== undefined) {
      send("application/octet-stream", blob, digest(blob));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: `${path} is not here` }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    pulls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
