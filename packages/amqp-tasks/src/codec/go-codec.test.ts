import { describe, expect, it } from 'vitest';
import { TasksError } from '../errors.js';
import { goArg, goCodec } from './go-codec.js';
import { jsonCodec } from './json-codec.js';
import { selectCodec } from './select-codec.js';

describe('goCodec', () => {
  it('writes the Go library format with inferred and explicit types', () => {
    const content = goCodec.encode({
      uuid: 'u',
      name: 'task_1',
      args: ['s', 1, 1.5, false, goArg('uint8', 255)],
    });
    expect(content.toString()).toBe(
      '{"uuid":"u","name":"task_1","args":[{"type":"string","value":"s"},{"type":"int","value":1},' +
        '{"type":"float64","value":1.5},{"type":"bool","value":false},{"type":"uint8","value":255}]}',
    );
  });

  it('reads Go messages back into plain values', () => {
    const body = '{"uuid":"u","name":"n","args":[{"type":"int64","value":9},{"type":"float32","value":0.5}]}';
    expect(goCodec.decode(Buffer.from(body))).toEqual({ uuid: 'u', name: 'n', args: [9, 0.5] });
    expect(goCodec.decode(Buffer.from('{"uuid":"u","name":"n","args":null}')).args).toEqual([]);
  });

  it.each([
    ['not json', '{'],
    ['no name', '{"uuid":"u","args":[]}'],
    ['args not an array', '{"name":"n","args":{}}'],
    ['unknown type', '{"name":"n","args":[{"type":"complex128","value":1}]}'],
    ['wrong value', '{"name":"n","args":[{"type":"bool","value":"yes"}]}'],
    ['out of range', '{"name":"n","args":[{"type":"int8","value":300}]}'],
    ['fraction for int', '{"name":"n","args":[{"type":"int","value":1.5}]}'],
  ])('rejects %s with DSP_TASKS_DECODE', (_what, body) => {
    expect(() => goCodec.decode(Buffer.from(body))).toThrow(
      expect.objectContaining({ code: 'DSP_TASKS_DECODE' }) as unknown as Error,
    );
  });

  it('refuses arguments Go cannot take', () => {
    expect(() => goCodec.encode({ uuid: 'u', name: 'n', args: [{ a: 1 }] })).toThrow(TasksError);
    expect(() => goCodec.encode({ uuid: 'u', name: 'n', args: { a: 1 } })).toThrow(TasksError);
    expect(() => goArg('int8', 128)).toThrow(TasksError);
  });
});

describe('jsonCodec and selectCodec', () => {
  it('round-trips any JSON args', () => {
    const body = { uuid: 'u', name: 'n', args: { nested: [1, { x: 'y' }] } };
    expect(jsonCodec.decode(jsonCodec.encode(body))).toEqual(body);
  });

  it('picks the codec by content type, ours when there is none', () => {
    const codecs = [jsonCodec, goCodec];
    expect(selectCodec('application/json; charset=utf-8', codecs)).toBe(goCodec);
    expect(selectCodec(jsonCodec.contentType, codecs)).toBe(jsonCodec);
    expect(selectCodec(undefined, codecs)).toBe(jsonCodec);
    expect(() => selectCodec('text/plain', codecs)).toThrow(
      expect.objectContaining({ code: 'DSP_TASKS_DECODE' }) as unknown as Error,
    );
  });
});
