import type { ChannelModel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { corkMuxerWrites } from './cork.js';

/** The two amqplib internals cork.ts relies on: a muxer whose pass writes frames, and the socket. */
function fakeModel() {
  const log: string[] = [];
  const stream = {
    cork: () => log.push('cork'),
    uncork: () => log.push('uncork'),
    write: (frame: string) => log.push(`write ${frame}`),
  };
  const muxer = {
    frames: [] as string[],
    _readIncoming(this: { frames: string[] }) {
      for (const frame of this.frames.splice(0)) stream.write(frame);
      if (this.frames.length === 0 && log.at(-1) === 'write boom') throw new Error('boom');
    },
  };
  const model = { connection: { muxer, stream } } as unknown as ChannelModel;
  return { model, muxer, log };
}

describe('corkMuxerWrites', () => {
  it('wraps each muxer pass in cork/uncork, so its frames leave together', () => {
    const { model, muxer, log } = fakeModel();
    expect(corkMuxerWrites(model)).toBe(true);
    muxer.frames.push('publish 1', 'publish 2', 'ack 7');
    muxer._readIncoming();
    expect(log).toEqual(['cork', 'write publish 1', 'write publish 2', 'write ack 7', 'uncork']);
    // Once per connection: a second call does not wrap the pass again.
    expect(corkMuxerWrites(model)).toBe(true);
    log.length = 0;
    muxer.frames.push('publish 3');
    muxer._readIncoming();
    expect(log).toEqual(['cork', 'write publish 3', 'uncork']);
  });

  it('uncorks even when the pass throws', () => {
    const { model, muxer, log } = fakeModel();
    corkMuxerWrites(model);
    muxer.frames.push('boom');
    expect(() => muxer._readIncoming()).toThrow('boom');
    expect(log.at(-1)).toBe('uncork');
  });

  it('does nothing when amqplib has no such internals', () => {
    expect(corkMuxerWrites({} as ChannelModel)).toBe(false);
    expect(corkMuxerWrites({ connection: { muxer: {} } } as unknown as ChannelModel)).toBe(false);
  });
});
