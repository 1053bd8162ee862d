#!/usr/bin/env node
// (Re)writes the broker's generated codec from the committed spec; `--check` exits 1 when it is stale.
// Needs tooling built first (`pnpm --filter @dispatcher/amqp-broker codegen` does both).
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateCodec } from '../dist/amqp-codegen.js';

const root = resolve(import.meta.dirname, '..', '..');
const spec = resolve(root, 'packages/amqp-broker/spec/amqp-rabbitmq-0.9.1.json');
const output = resolve(root, 'packages/amqp-broker/src/codec/generated/amqp-spec.ts');
const text = generateCodec(readFileSync(spec, 'utf8'));
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(output, 'utf8');
  } catch {
    // a missing file is stale
  }
  if (current !== text) {
    console.error(`${output} is stale: run pnpm --filter @dispatcher/amqp-broker codegen`);
    process.exit(1);
  }
  console.log(`${output} is up to date`);
} else {
  writeFileSync(output, text);
  console.log(`wrote ${output}`);
}
