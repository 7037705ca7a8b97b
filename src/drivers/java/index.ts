export { javaArgs, JAVA_KEYS, validateJavaConfig } from "./config.js";
export { JavaDriver, javaBinary } from "./driver.js";
export { parseJavaVersion, type JavaVersion } from "./version.js";
