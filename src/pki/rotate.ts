import { randomBytes, X509Certificate } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as pkijs from "pkijs";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { buildCertificate } from "./build-cert.js";
import { BACKDATE_MS, caFromPem, caPaths, createCa, privateDir, readIfThere, writePrivate, type Ca } from "./ca.js";
import { fileCaSlot, parseCaRecord, type CaRecord, type RecordSlot } from "./ca-record.js";
import { deriveCa } from "./derive.js";
import { caDigest } from "./digest.js";
import { FEDERATION_DERIVED, FEDERATION_ROTATING } from "./federation.js";
import { pemBlock, toPem } from "./pem.js";
import { newClusterKey, parseClusterKey, seal, unseal } from "./seal.js";

/**
 * The new CA's certificate signed by the old CA's key (Swarm's cross-signed root): the same
 * subject and key as the new root, issued by the old one, valid as long as the old one. A peer
 * that trusts only the old root verifies a certificate of the new CA through it.
 */
export async function crossSign(oldCa: Ca, newCa: Pick<Ca, "certPem" | "subject" | "cert">, now: Date = new Date()): Promise<string> {
  const spki = pkijs.Certificate.fromBER(pemBlock(newCa.certPem, "CERTIFICATE", "the new CA certificate")).subjectPublicKeyInfo;
  const der = await buildCertificate({
    subject: newCa.subject,
    issuer: oldCa.subject,
    publicKey: spki,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(Math.min(Date.parse(oldCa.cert.validTo), Date.parse(newCa.cert.validTo))),
    ca: true,
    issuerKeyId: oldCa.keyId,
    signer: oldCa.key,
  });
  return toPem("CERTIFICATE", der);
}


/** How a server comes by the cluster key, said whenever it has none or the wrong one. */
export const CLUSTER_KEY_HOWTO =
  "a server gets the cluster key in one of two ways: -encrypt KEY (server { encrypt = KEY }) with the key the other servers use (the first server keeps the one it made in its DATA_DIR/tls/cluster.key; `ruche operator keygen` prints a new one for a new cluster), or a server join token: `ruche join-token create -role server` on a running server, then `ruche agent -server -join-token TOKEN ...`";

/** Why servers that run their own etcd members need the cluster key: said when one has none. */
export const OWN_ETCD_KEY_HOWTO =
  "servers that run their own etcd members (-bootstrap-expect above 1, or -retry-join) share the cluster's CA through the cluster key: give each the same server { encrypt = KEY } (-encrypt KEY; `ruche operator keygen` prints one), or tls { enabled = false }";

/** What a server on an etcd member of its own answers a rotation before it has reached its etcd (where the CA's record is): refused, nothing changed. */
export const DERIVED_NOT_ATTACHED =
  "this server has not reached the servers' etcd yet, where the cluster CA's record is: nothing was changed; try again in a moment, or through another server";

/** How a server was given the cluster key: `-encrypt` (the operator keeps it), or a server join's answer (kept in `tls/cluster.key` for the next start). */
export interface GivenClusterKey {
  key: string;
  /** What gave it, for messages: "-encrypt", "the server join". */
  from: string;
  /** Whether to keep it in `<data_dir>/tls/cluster.key` (0600) for the next start. */
  keep: boolean;
}

export interface ClusterCaOptions {
  /** Where the CA's record is: shared on etcd (`state.etcdRecord`), or the data dir's (`fileCaSlot`, the default). */
  slot?: RecordSlot;
  /** The cluster key given to this server; else `<data_dir>/tls/cluster.key`, made there by the server that makes the CA. */
  key?: GivenClusterKey;
  now?: Date;
}

/** Where a data dir keeps the cluster key (`tls/cluster.key`, 0600) and the CA's files for the CLI and agents on the host. */
export function clusterFiles(dataDir: string): { key: string; ca: string; legacyKey: string; previous: string; cross: string; shared: string } {
  const p = caPaths(dataDir);
  return { key: join(p.dir, "cluster.key"), ca: p.cert, legacyKey: p.key, previous: join(p.dir, "ca-previous.pem"), cross: join(p.dir, "ca-cross.pem"), shared: join(p.dir, "ca-shared.json") };
}

/** The context the CA's key is sealed under: its certificate's digest (a key cannot be passed off as another CA's). */
function keyContext(certPem: string): string {
  return `ruche-ca-key:${caDigest(certPem)}`;
}

/**
 * The cluster CA, one for every server: its record in the cluster's state (`RecordSlot`: a
 * well-known etcd key shared by the servers, or the data dir of a server alone), the
 * certificate in clear and the key sealed under the cluster key. The first server makes it
 * (create-if-absent: of two servers starting at once one makes it, the other reads it); the
 * others open it with the cluster key, or stop saying how to get it. Through a CA rotation
 * (`ruche operator tls ca rotate`, as `docker swarm ca --rotate`) it signs with the new CA and
 * hands every certificate it signs with the new CA cross-signed by the old (`chain`), so that
 * an agent still trusting only the old root accepts it, while agents trust both roots
 * (`trusted`) and renew onto the new one; `finish` drops the old root. Rotations are written to
 * the record (compare-and-swap), and servers that `follow` it take them up. The data dir keeps
 * the roots to trust in `tls/ca.pem` (the current first), for the CLI and agents on the host.
 * It is what a server's API takes as its `pki` (`api.ClusterPki`).
 *
 * Servers that run their own etcd members need a CA before their etcd exists: theirs is
 * anchored on the CA derived from the cluster key (`derive`), which their etcd members' TLS
 * uses alone and which every one of them trusts throughout. The cluster CA starts as that
 * one; its record goes to their etcd once it runs (`attach`), and rotations go through it
 * from then on, as above, each server keeping the record as it last read it in its data dir
 * (`tls/ca-shared.json`, the key sealed) to start with next time.
 */
export class ClusterCa {
  private constructor(
    private readonly dataDir: string,
    readonly region: string,
    private slot: RecordSlot,
    private readonly kek: Buffer,
    private current: Ca,
    private previous: string | null,
    private cross: string | null,
    private rev: string,
    /** The CA derived from the cluster key (servers on etcd members of their own), or null. */
    private readonly anchor: Ca | null = null,
  ) {}

  /** The CA at the top of the chain (the current one, or during a rotation the previous) signed by the anchor, unless it is the anchor. */
  private anchorCross: string | null = null;
  /** Anchored: whether the record on etcd has been reached (`attach`); until then the CA does not rotate. */
  private attached = false;

  /** Whether this CA is anchored on the one derived from the cluster key (servers on etcd members of their own). */
  get derived(): boolean {
    return this.anchor !== null;
  }

  /** The CA derived from the cluster key, which signs the certificates of the servers' etcd members; null when not anchored. */
  anchorCa(): Ca | null {
    return this.anchor;
  }

  /**
   * The cluster CA of servers that run their own etcd members, anchored on the CA derived
   * from the cluster key (`deriveCa`), the same on every server given the key, before their
   * etcd exists: as this data dir's copy of the record last said (`tls/ca-shared.json`), else
   * the anchor itself. Until `attach` it has no record to follow and does not rotate
   * (`DERIVED_NOT_ATTACHED`). A copy the key does not open stops here, saying so.
   */
  static async derive(dataDir: string, region: string, key: GivenClusterKey): Promise<ClusterCa> {
    const kek = parseClusterKey(key.key, key.from);
    const anchor = await deriveCa(kek, region);
    const path = clusterFiles(dataDir).shared;
    const copy = await readIfThere(path);
    const record = copy === null ? null : parseCaRecord(copy, path);
    const current = record === null ? anchor : await openCurrent(record, kek, path, `the cluster key given with ${key.from}`);
    const none: RecordSlot = { where: "the servers' etcd, not reached yet", read: () => Promise.resolve(null), create: () => Promise.resolve(false), replace: () => Promise.resolve(false) };
    const cluster = new ClusterCa(dataDir, region, none, kek, current, record?.Previous ?? null, record?.Cross ?? null, "", anchor);
    await cluster.crossAnchor();
    await cluster.mirror();
    return cluster;
  }

  /**
   * An anchored CA takes up its record on the servers' etcd (`slot`), once that runs: made
   * there from this server's CA when there is none (the cluster's first start; of servers
   * attaching at once one makes it), else read and taken up. It follows and rotates through
   * it from then on. True when this server's CA changed (its certificates are to be issued
   * again).
   */
  attach(slot: RecordSlot): Promise<boolean> {
    return this.serial(async () => {
      if (this.anchor === null) throw new RucheError(ErrorCode.Internal, "only a CA anchored on the one derived from the cluster key attaches to a record");
      this.slot = slot;
      if ((await slot.read()) === null) await slot.create(JSON.stringify(this.record()));
      this.attached = true;
      return this.reread();
    });
  }

  /**
   * The record another region's first server takes up to share this CA (a WAN join,
   * `pki/federation.ts`): the CA as it is now, its key sealed under the cluster key. Refused
   * for a CA anchored on the derived one (`FEDERATION_DERIVED`) and during a rotation
   * (`FEDERATION_ROTATING`).
   */
  federationRecord(): CaRecord {
    if (this.anchor !== null) throw new RucheError(ErrorCode.BadRequest, FEDERATION_DERIVED);
    if (this.previous !== null || this.cross !== null) throw new RucheError(ErrorCode.Conflict, FEDERATION_ROTATING);
    return this.record();
  }

  /** The record of this CA as it is now, its key sealed under the cluster key. */
  private record(): CaRecord {
    return { Version: 1, Current: { Cert: this.current.certPem, Key: seal(this.kek, this.current.keyPem, keyContext(this.current.certPem)) }, Previous: this.previous, Cross: this.cross };
  }

  /**
   * Makes `anchorCross` again after a change of the CA. One chain, each link found by the one
   * before (the CAs share a subject, so a verifier takes the first certificate of the chain
   * whose key signed the link before): the certificate, the current CA signed by the previous
   * (during a rotation), the CA above signed by the anchor.
   */
  private async crossAnchor(): Promise<void> {
    const a = this.anchor;
    const top = this.cross !== null && this.previous !== null ? this.previous : this.current.certPem;
    if (a === null || top === a.certPem) {
      this.anchorCross = null;
      return;
    }
    const cert = new X509Certificate(top);
    this.anchorCross = await crossSign(a, { certPem: top, cert, subject: pkijs.Certificate.fromBER(pemBlock(top, "CERTIFICATE", "a CA certificate")).subject });
  }

  /**
   * Opens the cluster's CA from its record, or makes it when there is none (adopting a CA an
   * older data dir kept in `ca.pem` and `ca-key.pem`, whose clear key is then removed).
   * `keyFile` is the path of a cluster key made here (to be told once to the operator), else null.
   */
  static async open(dataDir: string, region: string, opts: ClusterCaOptions = {}): Promise<{ ca: ClusterCa; created: boolean; keyFile: string | null }> {
    const slot = opts.slot ?? fileCaSlot(dataDir);
    const files = clusterFiles(dataDir);
    const given = opts.key === undefined ? undefined : { from: opts.key.from, keep: opts.key.keep, key: parseClusterKey(opts.key.key, opts.key.from) };
    const keptText = await readIfThere(files.key);
    let kept = keptText === null ? undefined : parseClusterKey(keptText, files.key);
    let found = await slot.read();
    let keyFile: string | null = null;
    let created = false;
    if (found === null) {
      let kek = given?.key ?? kept;
      if (kek === undefined) {
        kek = parseClusterKey(newClusterKey(), "a new cluster key");
        await privateDir(caPaths(dataDir).dir);
        await writePrivate(files.key, `${kek.toString("base64")}\n`);
        keyFile = files.key;
      }
      const legacy = await legacyCa(dataDir);
      const ca = legacy?.ca ?? (await createCa({ region, ...(opts.now === undefined ? {} : { now: opts.now }) }));
      const record: CaRecord = { Version: 1, Current: { Cert: ca.certPem, Key: seal(kek, ca.keyPem, keyContext(ca.certPem)) }, Previous: legacy?.previous ?? null, Cross: legacy?.cross ?? null };
      if (await slot.create(JSON.stringify(record))) {
        created = true;
        if (keyFile !== null) kept = kek;
        if (legacy !== null) await rm(files.legacyKey, { force: true });
      } else if (keyFile !== null) {
        // Another server made the CA first: the key made here seals nothing.
        await rm(files.key, { force: true });
        keyFile = null;
      }
      found = await slot.read();
      if (found === null) throw new RucheError(ErrorCode.Internal, `the cluster CA's record (${slot.where}) was written and is not there`);
    }
    const record = parseCaRecord(found.value, slot.where);
    const { kek, ca } = await openWith(record, slot.where, given, kept, files.key);
    if (given?.keep === true && (kept === undefined || !kept.equals(kek))) {
      await privateDir(caPaths(dataDir).dir);
      await writePrivate(files.key, `${kek.toString("base64")}\n`);
    }
    const cluster = new ClusterCa(dataDir, region, slot, kek, ca, record.Previous, record.Cross, found.rev);
    await cluster.mirror();
    return { ca: cluster, created, keyFile };
  }

  /** The CA that signs now. */
  ca(): Ca {
    return this.current;
  }

  /** The roots to trust: the current CA's, during a rotation the previous one's, and an anchored CA's anchor. */
  trusted(): string[] {
    const roots = this.previous === null ? [this.current.certPem] : [this.current.certPem, this.previous];
    if (this.anchor !== null && !roots.includes(this.anchor.certPem)) roots.push(this.anchor.certPem);
    return roots;
  }

  /** Whether a rotation is under way: the previous CA is still trusted (an anchored CA's anchor is trusted throughout). */
  rotating(): boolean {
    return this.previous !== null;
  }

  /**
   * What follows a certificate this CA signs, in its chain: the current CA cross-signed by the
   * previous during a rotation; anchored, then the CA above signed by the anchor, so that a
   * server that knows only the anchor (one joining, or one away through a rotation) accepts it.
   */
  chain(): string {
    return (this.cross ?? "") + (this.anchorCross ?? "");
  }

  /** SHA-256 of the current CA (what new join tokens pin). */
  digest(): string {
    return caDigest(this.current.certPem);
  }

  /** The cluster key, base64: only for a server joining with a server join token (`POST /v1/agent/join`), over TLS. */
  clusterKey(): string {
    return this.kek.toString("base64");
  }

  /** Reads the record again: true when it changed (a rotation made through another server), and this server now signs as it says. */
  refresh(): Promise<boolean> {
    if (this.anchor !== null && !this.attached) return Promise.resolve(false);
    return this.serial(() => this.reread());
  }

  /** Runs `fn` after every change of this CA under way: one reads or writes the record and the data dir's copies at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners: (() => void)[] = [];

  /** Calls `fn` after each change of the CA this server signs with or trusts: a rotation or its end, made through this server or (followed) another. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  private async reread(): Promise<boolean> {
    const found = await this.slot.read();
    if (found === null) throw new RucheError(ErrorCode.Internal, `the cluster CA's record (${this.slot.where}) is gone`);
    if (found.rev === this.rev) return false;
    const record = parseCaRecord(found.value, this.slot.where);
    const same = record.Current.Cert === this.current.certPem && record.Previous === this.previous && record.Cross === this.cross;
    this.current = await openCurrent(record, this.kek, this.slot.where, "the cluster key this server holds");
    this.previous = record.Previous;
    this.cross = record.Cross;
    this.rev = found.rev;
    await this.crossAnchor();
    await this.mirror();
    if (same) return false;
    this.changed();
    return true;
  }

  /**
   * Follows the record (where other servers write it too): each change is read again, one at a
   * time; `onError` gets what fails. Stops when the returned function is called.
   */
  follow(onError: (err: unknown) => void): () => Promise<void> {
    if (this.slot.watch === undefined) return () => Promise.resolve();
    let chain: Promise<void> = Promise.resolve();
    const stop = this.slot.watch(() => {
      chain = chain.then(async () => {
        try {
          await this.refresh();
        } catch (err) {
          onError(err);
        }
      });
    });
    return async () => {
      await stop();
      await chain;
    };
  }

  /**
   * Rolls the CA: a new one, cross-signed by the current, becomes current; the current stays
   * trusted as the previous. One write of the record, refused when another server changed it
   * since this one read it (then nothing changed: try again).
   */
  rotate(now: Date = new Date()): Promise<{ digest: string }> {
    if (this.anchor !== null && !this.attached) return Promise.reject(new RucheError(ErrorCode.Unavailable, DERIVED_NOT_ATTACHED));
    return this.serial(async () => {
      await this.reread();
      const next = await createCa({ region: this.region, now });
      const cross = await crossSign(this.current, next, now);
      await this.write({ Version: 1, Current: { Cert: next.certPem, Key: seal(this.kek, next.keyPem, keyContext(next.certPem)) }, Previous: this.current.certPem, Cross: cross });
      return { digest: this.digest() };
    });
  }

  /** Ends a rotation: the previous root is no longer trusted (every agent has renewed onto the current). */
  finish(): Promise<void> {
    if (this.anchor !== null && !this.attached) return Promise.reject(new RucheError(ErrorCode.Unavailable, DERIVED_NOT_ATTACHED));
    return this.serial(async () => {
      await this.reread();
      if (this.previous === null && this.cross === null) return;
      await this.write({ Version: 1, Current: { Cert: this.current.certPem, Key: seal(this.kek, this.current.keyPem, keyContext(this.current.certPem)) }, Previous: null, Cross: null });
    });
  }

  private async write(record: CaRecord): Promise<void> {
    if (!(await this.slot.replace(JSON.stringify(record), this.rev))) {
      await this.reread();
      throw new RucheError(ErrorCode.Conflict, "the cluster CA was changed through another server at the same time: nothing was changed here; see `ruche operator tls ca` and try again");
    }
    const found = await this.slot.read();
    this.current = await openCurrent(record, this.kek, this.slot.where, "the cluster key this server holds");
    this.previous = record.Previous;
    this.cross = record.Cross;
    if (found !== null) this.rev = found.rev;
    await this.crossAnchor();
    await this.mirror();
    this.changed();
  }

  /** The data dir's copies: `ca.pem` (the roots to trust, the current first), `ca-previous.pem` and `ca-cross.pem` during a rotation; anchored, the record (`ca-shared.json`, 0600). */
  private async mirror(): Promise<void> {
    const f = clusterFiles(this.dataDir);
    await privateDir(caPaths(this.dataDir).dir);
    if (this.anchor !== null) await writePrivate(f.shared, JSON.stringify(this.record()));
    await writeAtomic(f.ca, this.trusted().join(""));
    if (this.previous === null) await rm(f.previous, { force: true });
    else await writeAtomic(f.previous, this.previous);
    if (this.cross === null) await rm(f.cross, { force: true });
    else await writeAtomic(f.cross, this.cross);
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

/** A CA an older data dir kept in clear (`ca.pem` and `ca-key.pem`, and during a rotation `ca-previous.pem` and `ca-cross.pem`), or null. */
async function legacyCa(dataDir: string): Promise<{ ca: Ca; previous: string | null; cross: string | null } | null> {
  const f = clusterFiles(dataDir);
  const [certPem, keyPem, previous, cross] = await Promise.all([readIfThere(f.ca), readIfThere(f.legacyKey), readIfThere(f.previous), readIfThere(f.cross)]);
  if (certPem === null || keyPem === null) return null;
  try {
    return { ca: await caFromPem(certPem, keyPem), previous: previous !== null && cross !== null ? previous : null, cross: previous !== null && cross !== null ? cross : null };
  } catch (err) {
    throw new RucheError(ErrorCode.Internal, `the cluster CA in ${caPaths(dataDir).dir} cannot be used: ${errorMessage(err)}`, { cause: err, path: caPaths(dataDir).dir });
  }
}

/** The record's current CA, its key opened with `kek`; a key that does not open it stops here, saying how to get the right one. */
async function openCurrent(record: CaRecord, kek: Buffer, where: string, which: string): Promise<Ca> {
  const opened = unseal(kek, record.Current.Key, keyContext(record.Current.Cert));
  if (!opened.ok) {
    const why = opened.reason === "wrong-key" ? `${which} does not decrypt its key (another cluster's key?)` : "its key is not a sealed key";
    throw new RucheError(ErrorCode.Forbidden, `this server cannot use the cluster's CA (${where}): ${why}; ${CLUSTER_KEY_HOWTO}`, { path: "encrypt" });
  }
  return caFromPem(record.Current.Cert, opened.plain);
}

/** The cluster key that opens the record: the one given, else the data dir's; none, or neither opens it, stops here saying how to get it. */
async function openWith(record: CaRecord, where: string, given: { key: Buffer; from: string } | undefined, kept: Buffer | undefined, keptPath: string): Promise<{ kek: Buffer; ca: Ca }> {
  if (given !== undefined) return { kek: given.key, ca: await openCurrent(record, given.key, where, `the cluster key given with ${given.from}`) };
  if (kept !== undefined) return { kek: kept, ca: await openCurrent(record, kept, where, `the cluster key in ${keptPath}`) };
  throw new RucheError(ErrorCode.Forbidden, `this server cannot use the cluster's CA (${where}): it was made by another server, and this one has no cluster key to decrypt its key; ${CLUSTER_KEY_HOWTO}`, { path: "encrypt" });
}
