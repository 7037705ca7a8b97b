export { runCli } from "./run.js";
export { processIO, Exit, type IO } from "./io.js";
