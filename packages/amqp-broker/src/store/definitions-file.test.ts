import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FieldTable } from '../codec/field-table.js';
import { DefinitionsFile, type VhostDefinitions } from './definitions-file.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dsp-defs-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const args: FieldTable = new Map([
  ['x-message-ttl', { type: 'int32', value: 60_000 }],
  ['x-dead-letter-exchange', { type: 'longstr', value: Buffer.from('dlx') }],
  ['flag', { type: 'bool', value: true }],
] as const);

describe('DefinitionsFile', () => {
  it('writes the snapshot atomically and reads it back exactly, argument types included', async () => {
    const dir = tmp();
    let current = new Map<string, VhostDefinitions>([
      [
        '/',
        {
          exchanges: [
            { name: 'ex', type: 'topic', autoDelete: false, internal: false, arguments: new Map() },
          ],
          queues: [{ name: 'q', autoDelete: false, arguments: args }],
          bindings: [
            {
              source: 'ex',
              destination: 'q',
              destinationType: 'queue',
              routingKey: 'a.#',
              arguments: new Map(),
            },
          ],
        },
      ],
    ]);
    const file = new DefinitionsFile(dir, () => current);
    file.changed();
    file.changed();
    await file.flushed();
    const loaded = await new DefinitionsFile(dir, () => new Map()).load();
    expect(loaded).toEqual(current);
    current = new Map([['/', { exchanges: [], queues: [], bindings: [] }]]);
    file.changed();
    await file.close();
    expect(await new DefinitionsFile(dir, () => new Map()).load()).toEqual(current);
    expect(JSON.parse(readFileSync(join(dir, 'definitions.json'), 'utf8')).version).toBe(1);
  });

  it('starts empty without a file and refuses a damaged one with a coded error', async () => {
    const dir = tmp();
    expect(await new DefinitionsFile(dir, () => new Map()).load()).toEqual(new Map());
    writeFileSync(join(dir, 'definitions.json'), '{"version":1,"vhosts":{"/":{"queues":"no"}}}');
    await expect(new DefinitionsFile(dir, () => new Map()).load()).rejects.toMatchObject({
      code: 'DSP_BROKER_STORE_FORMAT',
    });
    writeFileSync(join(dir, 'definitions.json'), 'not json');
    await expect(new DefinitionsFile(dir, () => new Map()).load()).rejects.toMatchObject({
      code: 'DSP_BROKER_STORE_FORMAT',
    });
  });
});
