export { RawExecDriver, type RawExecOptions } from "./driver.js";
