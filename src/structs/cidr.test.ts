import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { cidrContains, ipBytes, ipFamily, ipText, parseCidr } from "./cidr.js";

/** The one address parser, held against Node's `net.isIP` (which, like Go's net.ParseIP since 1.17, refuses leading zeros). */
describe("IP addresses and CIDR blocks", () => {
  const texts = [
    "10.0.0.1", "255.255.255.255", "0.0.0.0", "010.0.0.1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.04",
    "::", "::1", "1::", "fe80::1", "2001:db8::8:800:200c:417a", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8::",
    "1::2::3", ":1", "1:", "12345::", "g::1", "::ffff:10.0.0.1", "::ffff:010.0.0.1", "::ffff:10.0.0", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "", "host",
  ];

  it("takes the addresses Node takes, and no other", () => {
    for (const t of texts) expect({ t, family: ipFamily(t) }).toEqual({ t, family: isIP(t) });
  });

  it("gives an address's bytes, and writes them back as Go and Node do", () => {
    expect([...(ipBytes("10.1.2.3") ?? [])]).toEqual([10, 1, 2, 3]);
    expect([...(ipBytes("::ffff:10.0.0.1") ?? [])]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
    for (const [t, written] of [["2001:0db8:0:0:0:0:0:1", "2001:db8::1"], ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"], ["::", "::"], ["10.0.0.1", "10.0.0.1"]] as const) {
      expect(ipText(ipBytes(t) ?? new Uint8Array())).toBe(written);
    }
  });

  it("reads CIDR blocks and says which addresses they hold", () => {
    expect(parseCidr("10.0.0.0/8")?.prefix).toBe(8);
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "010.0.0.0/8", "fd00::/129", "fd00::/x"]) expect(parseCidr(bad)).toBeNull();
    expect(cidrContains("10.0.0.0/8", "10.200.1.1")).toBe(true);
    expect(cidrContains("10.0.0.0/8", "11.0.0.1")).toBe(false);
    expect(cidrContains("192.168.1.0/25", "192.168.1.127")).toBe(true);
    expect(cidrContains("192.168.1.0/25", "192.168.1.128")).toBe(false);
    expect(cidrContains("fd00::/8", "fd12::1")).toBe(true);
    expect(cidrContains("fd00::/8", "10.0.0.1")).toBe(false);
    expect(cidrContains("0.0.0.0/0", "1.2.3.4")).toBe(true);
  });
});
