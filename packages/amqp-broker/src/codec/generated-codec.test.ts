import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateCodec } from '@dispatcher/tooling/amqp-codegen';
import { describe, expect, it } from 'vitest';
import { METHOD_INFO, MethodId, SPEC_SHA256 } from './generated/amqp-spec.js';

const SPEC_PATH = fileURLToPath(new URL('../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url));
const OUTPUT_PATH = fileURLToPath(new URL('./generated/amqp-spec.ts', import.meta.url));

describe('generated codec', () => {
  it('matches what the generator makes from the committed spec (no drift)', () => {
    const expected = generateCodec(readFileSync(SPEC_PATH, 'utf8'));
    expect(readFileSync(OUTPUT_PATH, 'utf8')).toBe(expected);
  });

  it('carries the DO NOT EDIT header and the spec hash', () => {
    const text = readFileSync(OUTPUT_PATH, 'utf8');
    expect(text.split('\n')[0]).toContain('@generated');
    expect(text.split('\n')[0]).toContain('DO NOT EDIT');
    expect(text).toContain(SPEC_SHA256);
  });

  it("includes RabbitMQ's extensions", () => {
    expect(METHOD_INFO.get(MethodId.ConfirmSelect)?.name).toBe('confirm.select');
    expect(METHOD_INFO.get(MethodId.BasicNack)?.name).toBe('basic.nack');
    expect(METHOD_INFO.get(MethodId.ExchangeBind)?.name).toBe('exchange.bind');
    expect(METHOD_INFO.get(MethodId.ConnectionBlocked)?.name).toBe('connection.blocked');
    expect(METHOD_INFO.get(MethodId.ConnectionUpdateSecret)?.name).toBe('connection.update-secret');
    expect(METHOD_INFO.get(MethodId.BasicPublish)).toMatchObject({ content: true, synchronous: false });
    expect(METHOD_INFO.get(MethodId.QueueDeclare)).toMatchObject({ content: false, synchronous: true });
  });
});
