import { describe, expect, it } from "vitest";
import { parseArtifactSource, parseChecksum, splitSubdir } from "./artifact.js";

const ok = (src: string, options: Record<string, string> | null = null) => {
  const r = parseArtifactSource(src, options);
  if (!r.ok) throw new Error(r.reason);
  return r.source;
};
const reason = (src: string, options: Record<string, string> | null = null): string => {
  const r = parseArtifactSource(src, options);
  if (r.ok) throw new Error(`accepted ${src}`);
  return r.reason;
};

describe("artifact sources, read as go-getter reads them", () => {
  it("finds the archive type by the longest extension, or by archive=, and archive=false keeps it whole", () => {
    expect(ok("https://h/x/app.tar.gz").archive).toBe("tar.gz");
    expect(ok("https://h/x/app.tgz").archive).toBe("tgz");
    expect(ok("https://h/x/notes.gz").archive).toBe("gz");
    expect(ok("https://h/x/app.zip?archive=false").archive).toBeNull();
    expect(ok("https://h/x/blob", { archive: "zip" }).archive).toBe("zip");
    expect(ok("https://h/x/bin").archive).toBeNull();
    expect(reason("https://h/x/a", { archive: "rar" })).toContain('archive "rar" is not a format Ruche unpacks');
  });

  it("takes the magic parameters out of the URL, options set over the query as Nomad does, and the rest stays", () => {
    const s = ok("https://h/app.tar.gz?token=abc&checksum=md5:00000000000000000000000000000000", { checksum: `sha256:${"a".repeat(64)}` });
    expect(s.getter).toBe("http");
    expect(s.checksum).toEqual({ type: "sha256", hex: "a".repeat(64) });
    expect(s.address).toBe("https://h/app.tar.gz?token=abc");
    expect(ok(`https://h/f?checksum=${"b".repeat(40)}`).checksum).toEqual({ type: "sha1", hex: "b".repeat(40) });
  });

  it("reads forced getters, git shorthands, .git repositories, local paths and subdirectories", () => {
    expect(ok("git::https://example.com/r", { ref: "v1.2", depth: "1" })).toMatchObject({ getter: "git", address: "https://example.com/r", ref: "v1.2", depth: 1 });
    expect(ok("git@github.com:hashicorp/nomad.git")).toMatchObject({ getter: "git", address: "ssh://git@github.com/hashicorp/nomad.git" });
    expect(ok("github.com/hashicorp/go-set")).toMatchObject({ getter: "git", address: "https://github.com/hashicorp/go-set" });
    expect(ok("/srv/repos/app.git")).toMatchObject({ getter: "git", address: "/srv/repos/app.git", localPath: "/srv/repos/app.git" });
    expect(ok("/srv/files/a b.txt")).toMatchObject({ getter: "file", address: "/srv/files/a b.txt" });
    expect(ok("file:///srv/files/x.tar")).toMatchObject({ getter: "file", archive: "tar" });
    expect(ok("https://h/app.tar.gz//app/bin?archive=tar.gz")).toMatchObject({ subdir: "app/bin", archive: "tar.gz", address: "https://h/app.tar.gz" });
    expect(splitSubdir("file:///a/b//c")).toEqual({ src: "file:///a/b", subdir: "c" });
  });

  it("refuses what Ruche cannot fetch, saying why", () => {
    expect(reason("")).toBe("source must be specified");
    expect(reason("s3::https://s3.amazonaws.com/bucket/x")).toContain("download not supported for scheme 's3'");
    expect(reason("gcs::https://www.googleapis.com/storage/v1/b/x")).toContain("scheme 'gcs'");
    expect(reason("hg::http://example.com/repo")).toContain("scheme 'hg'");
    expect(reason("local/file.txt")).toContain("neither a URL nor an absolute path");
    expect(reason("git::https://h/r?sshkey=abc")).toContain("sshkey is not supported");
    expect(reason("git::https://h/r", { depth: "x" })).toContain("depth must be a whole number");
  });
});

describe("checksums", () => {
  it("are type:hex of the type's length, or bare hex of a known length", () => {
    expect(parseChecksum(`md5:${"A".repeat(32)}`)).toEqual({ ok: true, checksum: { type: "md5", hex: "a".repeat(32) } });
    expect(parseChecksum("sha256:abcd")).toEqual({ ok: false, reason: "invalid sha256 checksum: abcd (a sha256 sum has 64 hex digits)" });
    expect(parseChecksum("crc32:abcd")).toMatchObject({ ok: false, reason: expect.stringContaining("unsupported checksum type: crc32") as string });
    expect(parseChecksum(`sha1:${"z".repeat(40)}`)).toMatchObject({ ok: false, reason: expect.stringContaining("not hexadecimal") as string });
    expect(parseChecksum("file:https://h/SHA256SUMS")).toMatchObject({ ok: false, reason: expect.stringContaining("checksum files are not supported") as string });
    expect(parseChecksum(" ")).toEqual({ ok: false, reason: "checksum value cannot be empty" });
  });
});
