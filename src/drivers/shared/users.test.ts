import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lookupUser } from "./users.js";

describe("lookupUser", () => {
  it("finds a user of /etc/passwd by name or by uid", () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-passwd-"));
    try {
      const passwd = join(dir, "passwd");
      writeFileSync(passwd, "root:x:0:0:root:/root:/bin/bash\n# comment\nweb:x:1001:1002:Web,,,:/home/web:/bin/sh\n");
      expect(lookupUser("web", passwd)).toEqual({ name: "web", uid: 1001, gid: 1002 });
      expect(lookupUser("1001", passwd)).toEqual({ name: "web", uid: 1001, gid: 1002 });
      expect(lookupUser("nobody", passwd)).toBeUndefined();
      expect(lookupUser("web", join(dir, "missing"))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
