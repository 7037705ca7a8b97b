import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Reply, Request, Router } from "../http.js";

/** Where `npm run build` puts the dashboard: dist/ui of the package (this file is three folders down in src/ and in dist/). */
export const UI_DIR = fileURLToPath(new URL("../../../dist/ui/", import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** What every file of the dashboard is sent with: it runs only its own code and talks only to this API. */
const SECURITY: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

/**
 * The web dashboard at `/ui`: the files of its build, the page itself for every path that
 * is not a file (the dashboard routes in the browser), `GET /` sent there. Files under
 * `assets/` carry a hash of their content in their name and are cached for good; the page
 * is revalidated each time. A path never leaves `dir`.
 */
export function uiRoutes(r: Router, dir: string = UI_DIR): void {
  const root = resolve(dir);
  r.get("/", () => ({ status: 302, body: "", headers: { location: "/ui/", "content-type": "text/plain; charset=utf-8" } }));
  r.get("/ui/*path", async (req, res) => {
    const rel = req.params.path ?? "";
    const file = resolve(root, `.${sep}${rel}`);
    if (rel.includes("\0") || (file !== root && !file.startsWith(root + sep))) return notFound(rel);
    const found = file === root ? undefined : await regularFile(file);
    if (found !== undefined) return sendFile(req, res, file, found, rel.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    // A missing file is a 404; any other path is one of the dashboard's own pages.
    if (extname(rel) !== "") return notFound(rel);
    const index = resolve(root, "index.html");
    const page = await regularFile(index);
    if (page === undefined) {
      return {
        status: 503,
        body: `The dashboard is not built: there is no ${index}.\nRun \`npm run build\`, which builds it into dist/ui, and reload.\n`,
        headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      };
    }
    return sendFile(req, res, index, page, "no-cache");
  });
}

function notFound(rel: string): Reply {
  return { status: 404, body: `no file "${rel}" in the dashboard\n`, headers: { "content-type": "text/plain; charset=utf-8" } };
}

async function regularFile(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

function sendFile(req: Request, res: ServerResponse, path: string, s: { size: number; mtimeMs: number }, cache: string): Reply {
  const etag = `"${s.size.toString(36)}-${Math.trunc(s.mtimeMs).toString(36)}"`;
  const headers: Record<string, string | number> = { ...SECURITY, "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": cache, etag };
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, headers).end();
    return { streamed: true };
  }
  res.writeHead(200, { ...headers, "content-length": s.size });
  if (req.method === "HEAD") {
    res.end();
    return { streamed: true };
  }
  const stream = createReadStream(path);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
  return { streamed: true };
}
