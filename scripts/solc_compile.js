#!/usr/bin/env node
// Offline Solidity compiler: runs the pinned solc-js (npm "solc") through its standard-JSON
// API. Native solc cannot be installed from the registries this project uses, so this script
// stands in for it (see scripts/solc and TOOLCHAIN.md).
//
//   node scripts/solc_compile.js --version
//   node scripts/solc_compile.js --standard-json [--base-path P] [--include-path P]... \
//        [--allow-paths P1,P2] < input.json > output.json
//
// Imports are resolved against the base and include paths, the allowed paths, the current
// folder and the project's node_modules, in that order.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-v')) {
  const v = solc.version().replace('.Emscripten.clang', '.Linux.g++');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${v}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('scripts/solc supports only --version and --standard-json\n');
  process.exit(2);
}

const searchRoots = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if ((a === '--base-path' || a === '--include-path') && args[i + 1]) searchRoots.push(args[++i]);
  else if (a === '--allow-paths' && args[i + 1]) searchRoots.push(...args[++i].split(','));
}
searchRoots.push(process.cwd(), path.join(root, 'node_modules'), root);

function findImports(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : searchRoots.filter(Boolean).map((r) => path.resolve(r, importPath));
  for (const c of candidates) {
    try {
      if (fs.statSync(c).isFile()) return { contents: fs.readFileSync(c, 'utf8') };
    } catch (e) { /* try the next root */ }
  }
  return { error: `File not found: ${importPath} (searched ${searchRoots.join(', ')})` };
}

const input = fs.readFileSync(0, 'utf8');
// Sources given by path only ("urls") are read here, as native solc would.
let parsed;
try {
  parsed = JSON.parse(input);
} catch (e) {
  process.stderr.write(`invalid standard-JSON input: ${e.message}\n`);
  process.exit(2);
}
for (const [name, src] of Object.entries(parsed.sources || {})) {
  if (src.content === undefined && Array.isArray(src.urls)) {
    for (const u of src.urls) {
      const found = findImports(u);
      if (found.contents !== undefined) { src.content = found.contents; delete src.urls; break; }
    }
    if (src.content === undefined) {
      const found = findImports(name);
      if (found.contents !== undefined) { src.content = found.contents; delete src.urls; }
    }
  }
}
process.stdout.write(solc.compile(JSON.stringify(parsed), { import: findImports }));
