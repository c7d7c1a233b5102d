// Runs the Khronos glTF validator (npm gltf-validator, installed by installer/setup-dev.sh into
// .tools/node_modules) on each file named on the command line and prints one JSON report per
// line: {"path", "numErrors", "numWarnings", "numInfos", "numHints", "messages"}.
// Exit 0 when every file was validated (whatever it found), 2 when the validator is missing.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const modules = process.env.GLTF_VALIDATOR_MODULES
  || path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", ".tools", "node_modules");
let validator;
try {
  validator = createRequire(path.join(modules, "noop.js"))("gltf-validator");
} catch (error) {
  console.error(`gltf-validator is not installed in ${modules}: run bash installer/setup-dev.sh`);
  process.exit(2);
}

if (process.argv[2] === "--version") {
  console.log(validator.version());
  process.exit(0);
}

for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 200,
    // A .gltf's external buffers and images, resolved beside it (spaces arrive as %20).
    externalResourceFunction: (uri) => new Promise((resolve, reject) => {
      fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (error, data) => {
        if (error) reject(error.toString()); else resolve(new Uint8Array(data));
      });
    }),
  });
  const issues = report.issues;
  console.log(JSON.stringify({
    path: file, numErrors: issues.numErrors, numWarnings: issues.numWarnings,
    numInfos: issues.numInfos, numHints: issues.numHints, messages: issues.messages,
  }));
}
