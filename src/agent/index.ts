export { startAgent, type AgentConfig, type RunningAgent } from "./agent.js";
export { inProcessTransport } from "./in-process.js";
