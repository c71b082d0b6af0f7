// The recognizer generated from the spec's ABNF by apg-js.
//
// Usage: node recognize.js GRAMMAR.abnf START-RULE < inputs > verdicts
//
// GRAMMAR.abnf is the text abnf.py extracts; apg-js (strict RFC 5234 and
// RFC 7405 mode, no superset operators) turns it into a parser. The
// inputs are length-prefixed: a 4-octet big-endian length, then that many
// octets. For each input one line is printed: "1" when the whole input
// matches START-RULE, "0" when it does not. apg reads with prioritized
// choice and greedy repetition; test_order.py checks that this does not
// change the language of the grammar.
'use strict';

const fs = require('fs');
const { apgApi, apgLib } = require('apg-js');

/* Returns the parser's grammar object, or exits with apg's errors. */
function grammarOf(path) {
  // strict mode wants CRLF line ends, as RFC 5234 writes them
  const text = fs.readFileSync(path, 'latin1').replace(/\r?\n/g, '\r\n');
  const api = new apgApi(text);
  api.generate(true);
  if (api.errors.length > 0) {
    process.stderr.write(api.errorsToAscii());
    process.exit(2);
  }
  return api.toObject();
}

/* Splits the length-prefixed inputs of `buf` into arrays of octets. */
function inputsOf(buf) {
  const out = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = buf.readUInt32BE(at);
    out.push(Array.from(buf.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return out;
}

function main() {
  if (process.argv.length !== 4) {
    process.stderr.write('usage: node recognize.js GRAMMAR START-RULE\n');
    process.exit(2);
  }
  const grammar = grammarOf(process.argv[2]);
  const start = process.argv[3];
  const parser = new apgLib.parser();
  const lines = [];
  for (const input of inputsOf(fs.readFileSync(0))) {
    const result = parser.parse(grammar, start, input);
    lines.push(result.success ? '1' : '0');
  }
  process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
}

main();
