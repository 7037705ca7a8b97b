export { depName, NomadVarItem, type Dep, type HealthService, type KeyPair, type NomadService, type ServiceSnippet } from "./deps.js";
export { execTemplate, printValue, sprintf, truth, type TemplateFunc } from "./exec.js";
export { templateFuncs, type RenderInputs, type RenderTrace } from "./funcs.js";
export { TemplateManager, type TemplateManagerDeps } from "./manager.js";
export { parseTemplate, TemplateError } from "./parse.js";
export { compileTemplate, parseEnvFile, renderTemplate, type CompiledTemplate, type RenderResult } from "./render.js";
export { apiTemplateSource, healthServices, keyPairs, type Fetched, type TemplateSource } from "./source.js";
