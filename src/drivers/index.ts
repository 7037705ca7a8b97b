export * from "./driver.js";
import type { Driver } from "./driver.js";

/** Every driver a node agent offers (each fingerprints whether it works on this machine). */
export function allDrivers(): Driver[] {
  return [];
}
