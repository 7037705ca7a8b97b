import { describe, expect, it } from "vitest";
import { formatKV, formatTable } from "./table.js";
import { formatAgo, formatTime } from "./time.js";
import { formatBytes, formatMB } from "./units.js";
import { shortId } from "./ids.js";

describe("formatTable", () => {
  it("aligns columns two spaces apart, with no space at the end of a line (the walkthrough's Summary)", () => {
    expect(
      formatTable(
        ["Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost"],
        [["webs", "0", "0", "2", "0", "0", "0"]],
      ),
    ).toBe("Task Group  Queued  Starting  Running  Failed  Complete  Lost\nwebs        0       0         2        0       0         0");
  });

  it("widens a column to its widest cell, and an empty last cell leaves no trailing space", () => {
    expect(formatTable(["ID", "Description"], [["a-much-longer-id", ""], ["b", "x"]])).toBe("ID                Description\na-much-longer-id\nb                 x");
  });
});

describe("formatKV", () => {
  it("pads keys to the longest, as nomad status's head", () => {
    expect(
      formatKV([
        ["ID", "e839ee3d"],
        ["Status", "successful"],
        ["Description", "Deployment completed successfully"],
      ]),
    ).toBe("ID          = e839ee3d\nStatus      = successful\nDescription = Deployment completed successfully");
  });

  it("leaves no trailing space after an empty value", () => {
    expect(formatKV([["Diff", ""]])).toBe("Diff =");
  });
});

describe("times", () => {
  it("prints absolute times in UTC as the walkthrough shows them", () => {
    expect(formatTime(Date.UTC(2017, 8, 4, 12, 36, 41))).toBe("09/04/17 12:36:41 UTC");
    expect(formatTime(0)).toBe("N/A");
  });

  it("prints ages in their two largest units", () => {
    const now = Date.UTC(2024, 0, 10, 12, 0, 0);
    expect(formatAgo(now, now)).toBe("0s ago");
    expect(formatAgo(now - 5_000, now)).toBe("5s ago");
    expect(formatAgo(now - 125_000, now)).toBe("2m5s ago");
    expect(formatAgo(now - 3_600_000 - 7_000, now)).toBe("1h0m ago");
    expect(formatAgo(now - 3 * 86_400_000 - 2 * 3_600_000, now)).toBe("3d2h ago");
    expect(formatAgo(now + 10_000, now)).toBe("10s from now");
    expect(formatAgo(0, now)).toBe("");
  });
});

describe("sizes and ids", () => {
  it("prints sizes as go-humanize IBytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatMB(64)).toBe("64 MiB");
    expect(formatMB(8192)).toBe("8.0 GiB");
    expect(formatMB(100_000)).toBe("98 GiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });

  it("shortens ids to 8 characters unless asked for whole ones", () => {
    expect(shortId("1d7b9a95-7a04-4dba-8b5e-5c1c6e0b8f3a")).toBe("1d7b9a95");
    expect(shortId("1d7b9a95-7a04-4dba-8b5e-5c1c6e0b8f3a", true)).toBe("1d7b9a95-7a04-4dba-8b5e-5c1c6e0b8f3a");
  });
});
