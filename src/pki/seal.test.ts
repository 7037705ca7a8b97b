import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { caDigest, ClusterCa, clusterFiles, createCa, fileCaSlot, newClusterKey, parseCaRecord, parseClusterKey, privateDir, seal, unseal } from "./index.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ruche-seal-"));
  dirs.push(d);
  return d;
}

describe("the cluster key", () => {
  it("is 32 bytes of base64; anything else is refused naming where, never echoing it", () => {
    const key = newClusterKey();
    expect(parseClusterKey(key, "-encrypt")).toHaveLength(32);
    // URL-safe base64 too, and surrounding blanks (a file's newline).
    expect(parseClusterKey(`${key.replaceAll("+", "-").replaceAll("/", "_")}\n`, "-encrypt").equals(parseClusterKey(key, "-encrypt"))).toBe(true);
    const short = Buffer.alloc(16, 7).toString("base64");
    expect(() => parseClusterKey(short, "-encrypt")).toThrow(/-encrypt is 16 bytes; the cluster key is 32 bytes/);
    expect(() => parseClusterKey("not base64!", "-encrypt")).toThrow(/-encrypt is not base64/);
    expect(() => parseClusterKey("", "server { encrypt }")).toThrow(/server \{ encrypt \} is empty/);
    try {
      parseClusterKey(short, "-encrypt");
    } catch (err) {
      expect(String(err)).not.toContain(short);
    }
  });
});

describe("sealing with AES-256-GCM", () => {
  const key = parseClusterKey(newClusterKey(), "k");
  it("opens with the same key and context, and a fresh nonce each time", () => {
    const a = seal(key, "the CA key", "ctx");
    expect(a).toMatch(/^ruche-sealed-1:/);
    expect(a).not.toContain("the CA key");
    expect(seal(key, "the CA key", "ctx")).not.toBe(a);
    expect(unseal(key, a, "ctx")).toEqual({ ok: true, plain: "the CA key" });
  });

  it("refuses another key, another context, and any changed byte", () => {
    const sealed = seal(key, "the CA key", "ctx");
    expect(unseal(parseClusterKey(newClusterKey(), "k"), sealed, "ctx")).toEqual({ ok: false, reason: "wrong-key" });
    expect(unseal(key, sealed, "another CA")).toEqual({ ok: false, reason: "wrong-key" });
    const raw = Buffer.from(sealed.slice("ruche-sealed-1:".length), "base64");
    for (const at of [0, 12, 28, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[at] = (t[at] ?? 0) ^ 1;
      expect(unseal(key, `ruche-sealed-1:${t.toString("base64")}`, "ctx"), `byte ${at}`).toEqual({ ok: false, reason: "wrong-key" });
    }
    expect(unseal(key, "plain text", "ctx")).toEqual({ ok: false, reason: "malformed" });
    expect(unseal(key, "ruche-sealed-1:AAAA", "ctx")).toEqual({ ok: false, reason: "malformed" });
  });
});

describe("one cluster CA in a shared record", () => {
  it("is made once, its key sealed; a server without the key, or with another, is refused naming both ways in", async () => {
    const [shared, s1, s2, s3] = await Promise.all([tempDir(), tempDir(), tempDir(), tempDir()]);
    const slot = fileCaSlot(shared);
    const first = await ClusterCa.open(s1, "eu", { slot });
    expect(first.created).toBe(true);
    expect(first.keyFile).toBe(clusterFiles(s1).key);
    expect((await stat(clusterFiles(s1).key)).mode & 0o777).toBe(0o600);
    // The record holds the certificate in clear and the key sealed, never in clear.
    const text = await readFile(slot.where, "utf8");
    const record = parseCaRecord(text, slot.where);
    expect(record.Current.Cert).toBe(first.ca.ca().certPem);
    expect(text).not.toContain("PRIVATE KEY");
    expect(await readFile(join(s1, "tls", "ca.pem"), "utf8")).toBe(first.ca.ca().certPem);

    await expect(ClusterCa.open(s2, "eu", { slot })).rejects.toThrow(/has no cluster key to decrypt its key; a server gets the cluster key in one of two ways: -encrypt KEY .*ruche join-token create -role server/);
    await expect(ClusterCa.open(s2, "eu", { slot, key: { key: newClusterKey(), from: "-encrypt", keep: false } })).rejects.toThrow(/the cluster key given with -encrypt does not decrypt its key .*-encrypt KEY.*join-token/);
    // A wrong key in the data dir is said the same way, naming the file.
    await privateDir(join(s3, "tls"));
    await writeFile(clusterFiles(s3).key, newClusterKey(), { mode: 0o600 });
    await expect(ClusterCa.open(s3, "eu", { slot })).rejects.toThrow(/the cluster key in .*cluster\.key does not decrypt its key/);

    const kek = (await readFile(clusterFiles(s1).key, "utf8")).trim();
    const second = await ClusterCa.open(s2, "eu", { slot, key: { key: kek, from: "-encrypt", keep: false } });
    expect(second.created).toBe(false);
    expect(second.keyFile).toBeNull();
    expect(second.ca.digest()).toBe(first.ca.digest());
    expect(caDigest(await readFile(join(s2, "tls", "ca.pem"), "utf8"))).toBe(first.ca.digest());
    // -encrypt is the operator's to keep: not written; a key from a server join is kept.
    await expect(stat(clusterFiles(s2).key)).rejects.toThrow(/ENOENT/);
    const third = await ClusterCa.open(s3, "eu", { slot, key: { key: kek, from: "the server join", keep: true } });
    expect(third.ca.digest()).toBe(first.ca.digest());
    expect((await readFile(clusterFiles(s3).key, "utf8")).trim()).toBe(kek);
    expect((await ClusterCa.open(s3, "eu", { slot })).ca.digest()).toBe(first.ca.digest());
  });

  it("two servers starting at once make one CA", async () => {
    const [shared, s1, s2] = await Promise.all([tempDir(), tempDir(), tempDir()]);
    const slot = fileCaSlot(shared);
    const key = { key: newClusterKey(), from: "-encrypt", keep: false };
    const [a, b] = await Promise.all([ClusterCa.open(s1, "eu", { slot, key }), ClusterCa.open(s2, "eu", { slot, key })]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.ca.digest()).toBe(b.ca.digest());
  });

  it("a rotation through one server is taken up by the other; a rotation on a stale copy is refused", async () => {
    const [shared, s1, s2] = await Promise.all([tempDir(), tempDir(), tempDir()]);
    const slot = fileCaSlot(shared);
    const key = { key: newClusterKey(), from: "-encrypt", keep: false };
    const { ca: one } = await ClusterCa.open(s1, "eu", { slot, key });
    const { ca: two } = await ClusterCa.open(s2, "eu", { slot, key });
    const old = one.digest();
    const { digest } = await one.rotate();
    expect(await two.refresh()).toBe(true);
    expect(two.digest()).toBe(digest);
    expect(two.trusted().map(caDigest)).toEqual([digest, old]);
    expect(two.chain()).toBe(one.chain());
    expect(splitCount(await readFile(join(s2, "tls", "ca.pem"), "utf8"))).toBe(2);
    await two.finish();
    expect(await one.refresh()).toBe(true);
    expect(one.trusted()).toHaveLength(1);
    expect(await readFile(join(s1, "tls", "ca.pem"), "utf8")).toBe(one.ca().certPem);
    // A record changed under a server's feet: its write is refused, nothing lost.
    const before = await readFile(slot.where, "utf8");
    expect(await slot.replace(before, "stale")).toBe(false);
    expect(await readFile(slot.where, "utf8")).toBe(before);
  });

  it("adopts the CA an older data dir kept in clear, and removes its clear key", async () => {
    const s1 = await tempDir();
    const ca = await createCa({ region: "eu" });
    const f = clusterFiles(s1);
    await privateDir(join(s1, "tls"));
    await writeFile(f.ca, ca.certPem);
    await writeFile(f.legacyKey, ca.keyPem, { mode: 0o600 });
    const opened = await ClusterCa.open(s1, "eu");
    expect(opened.created).toBe(true);
    expect(opened.ca.digest()).toBe(caDigest(ca.certPem));
    await expect(stat(f.legacyKey)).rejects.toThrow(/ENOENT/);
    expect((await ClusterCa.open(s1, "eu")).ca.digest()).toBe(caDigest(ca.certPem));
  });
});

function splitCount(pem: string): number {
  return pem.split("BEGIN CERTIFICATE").length - 1;
}
