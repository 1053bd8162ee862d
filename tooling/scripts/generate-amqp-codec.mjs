#!/usr/bin/env node
// (Re)writes the broker's generated codec modules from the committed spec; `--check` exits 1 when one is
// stale. Needs tooling built first (`pnpm --filter @dispatcher/amqp-broker codegen` does both).
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateCodec, generateConstants } from '../dist/amqp-codegen.js';

const root = resolve(import.meta.dirname, '..', '..');
const specText = readFileSync(resolve(root, 'packages/amqp-broker/spec/amqp-rabbitmq-0.9.1.json'), 'utf8');
const dir = resolve(root, 'packages/amqp-broker/src/codec/generated');
const outputs = [
  [resolve(dir, 'amqp-constants.ts'), generateConstants(specText)],
  [resolve(dir, 'amqp-spec.ts'), generateCodec(specText)],
];
let stale = false;
for (const [output, text] of outputs) {
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(output, 'utf8');
    } catch {
      // a missing file is stale
    }
    if (current === text) {
      console.log(`${output} is up to date`);
    } else {
      console.error(`${output} is stale: run pnpm --filter @dispatcher/amqp-broker codegen`);
      stale = true;
    }
  } else {
    writeFileSync(output, text);
    console.log(`wrote ${output}`);
  }
}
if (stale) process.exit(1);
