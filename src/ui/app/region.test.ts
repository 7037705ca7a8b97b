import { describe, expect, it } from "vitest";
import { inRegion, regionOf, withRegion } from "./region.js";

describe("the page's region in its URL", () => {
  it("is read from ?region=, none when absent or empty", () => {
    expect(regionOf("?region=us")).toBe("us");
    expect(regionOf("?namespace=prod&region=europe")).toBe("europe");
    expect(regionOf("")).toBe("");
    expect(regionOf("?region=")).toBe("");
  });

  it("is added to a request or a link that names none, after its own query", () => {
    expect(withRegion("/v1/jobs", "us")).toBe("/v1/jobs?region=us");
    expect(withRegion("/v1/jobs?namespace=*", "us")).toBe("/v1/jobs?namespace=*&region=us");
    expect(withRegion("/ui/jobs/web?namespace=prod", "eu west")).toBe("/ui/jobs/web?namespace=prod&region=eu%20west");
  });

  it("leaves a request that names its region (a region's leader asked) and every request of the serving server's own region as they are", () => {
    expect(withRegion("/v1/status/leader?region=europe", "us")).toBe("/v1/status/leader?region=europe");
    expect(withRegion("/v1/jobs", "")).toBe("/v1/jobs");
  });

  it("switching keeps the page and its query; the serving server's own region is taken off the URL, as Nomad's UI drops its default", () => {
    expect(inRegion("/ui/jobs", "", "us", "europe")).toBe("/ui/jobs?region=us");
    expect(inRegion("/ui/jobs/web", "?namespace=prod&region=us", "asia", "europe")).toBe("/ui/jobs/web?namespace=prod&region=asia");
    expect(inRegion("/ui/jobs/web", "?namespace=prod&region=us", "europe", "europe")).toBe("/ui/jobs/web?namespace=prod");
    expect(inRegion("/ui/", "?region=us", "europe", "europe")).toBe("/ui/");
  });
});
