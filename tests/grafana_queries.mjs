#!/usr/bin/env node
// Checks Flux queries with @influxdata/flux-lsp-node (web/node_modules, scripts/setup): no
// InfluxDB 2 server is needed, and none runs the queries. Reads a JSON array
// [{"label": "...", "query": "..."}] on stdin (queries with Grafana's macros and variables
// already substituted: tests/grafana_test.py does that) and writes one JSON array
// [{"label", "syntax_errors": [{"msg", "line", "column"}], "valid": bool}] on stdout.
//   syntax_errors  the parser's errors, from the AST (parse() always returns one)
//   valid          is_valid_flux(): the semantic check (unknown functions, wrong argument
//                  names or types, e.g. float / int)
// Exit 0 when every query has no syntax error and is valid, 1 otherwise, 2 on bad input.
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';

const webRequire = createRequire(new URL('../web/package.json', import.meta.url));
let flux;
try {
  flux = webRequire('@influxdata/flux-lsp-node');
} catch (e) {
  console.error(`grafana_queries: cannot load @influxdata/flux-lsp-node from web/node_modules ` +
                `(run scripts/setup): ${e.message}`);
  process.exit(2);
}

function syntaxErrors(source) {
  const out = [];
  const walk = (node) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    const at = node.location && node.location.start ? node.location.start : {};
    if (Array.isArray(node.errors)) {
      for (const e of node.errors) out.push({msg: e.msg, line: at.line, column: at.column});
    }
    if (node.type === 'BadExpression' || node.type === 'BadStatement') {
      out.push({msg: `bad ${node.type === 'BadStatement' ? 'statement' : 'expression'}: ` +
                     `${node.text}`, line: at.line, column: at.column});
    }
    for (const k of Object.keys(node)) if (k !== 'location') walk(node[k]);
  };
  walk(flux.parse(source));
  return out;
}

let queries;
try {
  queries = JSON.parse(readFileSync(0, 'utf8'));
  if (!Array.isArray(queries)) throw new Error('not an array');
} catch (e) {
  console.error(`grafana_queries: stdin is not a JSON array of {label, query}: ${e.message}`);
  process.exit(2);
}
const results = queries.map(({label, query}) => ({
  label,
  syntax_errors: syntaxErrors(query),
  valid: flux.is_valid_flux(query),
}));
process.stdout.write(JSON.stringify(results) + '\n');
process.exit(results.every((r) => r.valid && r.syntax_errors.length === 0) ? 0 : 1);
