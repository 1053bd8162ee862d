import { describe, expect, it, vi } from 'vitest';

/** RFC 9562 UUID text form with version 7 and variant 0b10. */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type NewMessageId = (now?: number) => string;

/** A fresh copy of the module, so every test starts from a clean "last millisecond" state. */
async function freshGenerator(): Promise<NewMessageId> {
  vi.resetModules();
  const mod = await import('./message-id.js');
  return mod.newMessageId;
}

function parts(id: string): { ms: number; version: number; counter: number; variant: number; hex: string } {
  const hex = id.replaceAll('-', '');
  expect(hex).toMatch(/^[0-9a-f]{32}$/);
  return {
    ms: Number.parseInt(hex.slice(0, 12), 16),
    version: Number.parseInt(hex[12] as string, 16),
    counter: Number.parseInt(hex.slice(13, 16), 16),
    variant: Number.parseInt(hex[16] as string, 16) >> 2,
    hex,
  };
}

// 2025-01-15T12:00:00Z
const T = Date.UTC(2025, 0, 15, 12, 0, 0);

describe('newMessageId', () => {
  it('returns a UUIDv7 in RFC 9562 text form', async () => {
    const newMessageId = await freshGenerator();
    for (let i = 0; i < 200; i++) {
      const id = newMessageId(T + i * 7);
      expect(id).toMatch(UUID_V7);
      const p = parts(id);
      expect(p.version).toBe(7);
      expect(p.variant).toBe(0b10);
    }
  });

  it('encodes the given time in the first 48 bits', async () => {
    const newMessageId = await freshGenerator();
    expect(newMessageId(0).slice(0, 13)).toBe('00000000-0000');
    const times = [1, 255, 256, 2 ** 32 + 5, T, T + 1, 2 ** 47 + 3, 2 ** 48 - 1]; // ascending: no clock step back
    for (const t of times) expect(parts(newMessageId(t)).ms).toBe(t);
  });

  it('encodes the exact bytes of a known time', async () => {
    const newMessageId = await freshGenerator();
    // 1_736_942_400_000 = 0x0194_69D5_B200: 48 bits big-endian, split 8 + 4 hex digits by the first dash.
    expect(T).toBe(0x0194_69d5_b200);
    expect(newMessageId(T).slice(0, 13)).toBe('019469d5-b200');
  });

  it('defaults to Date.now()', async () => {
    const newMessageId = await freshGenerator();
    const before = Date.now();
    const { ms } = parts(newMessageId());
    const after = Date.now();
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it('is strictly increasing within one millisecond, past the 12-bit counter wrap', async () => {
    const newMessageId = await freshGenerator();
    const ids = Array.from({ length: 10_000 }, () => newMessageId(T));
    const first = parts(ids[0] as string);
    expect(first.ms).toBe(T);
    expect(first.counter).toBeLessThan(0x800); // starts in the lower half, leaving room to count
    for (let i = 1; i < ids.length; i++) {
      const prev = parts(ids[i - 1] as string);
      const cur = parts(ids[i] as string);
      expect((ids[i] as string) > (ids[i - 1] as string)).toBe(true);
      if (cur.ms === prev.ms) {
        expect(cur.counter).toBe(prev.counter + 1);
      } else {
        // Counter exhausted: borrow the next millisecond and restart the counter.
        expect(prev.counter).toBe(0xfff);
        expect(cur.ms).toBe(prev.ms + 1);
        expect(cur.counter).toBe(0);
      }
      expect(cur.version).toBe(7);
      expect(cur.variant).toBe(0b10);
    }
    // 10 000 ids need at least two wraps of the 4096-value counter.
    expect(parts(ids.at(-1) as string).ms).toBeGreaterThanOrEqual(T + 2);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('stays strictly increasing when the clock goes backwards', async () => {
    const newMessageId = await freshGenerator();
    const a = newMessageId(T);
    const b = newMessageId(T - 60_000);
    const c = newMessageId(0);
    const d = newMessageId(T);
    expect(b > a && c > b && d > c).toBe(true);
    // The earlier times are ignored: ids keep the last time seen.
    for (const id of [b, c, d]) expect(parts(id).ms).toBe(T);
    const e = newMessageId(T + 1);
    expect(e > d).toBe(true);
    expect(parts(e).ms).toBe(T + 1);
  });

  it('is strictly increasing across a mix of same, later and earlier times', async () => {
    const newMessageId = await freshGenerator();
    const offsets = [0, 0, 1, 1, 1, -5, 3, 2, 2, 10, 9, 10, 11, -100, 12];
    let prev = '';
    let maxSeen = -1;
    for (const offset of offsets) {
      const id = newMessageId(T + offset);
      expect(id > prev).toBe(true);
      maxSeen = Math.max(maxSeen, T + offset);
      expect(parts(id).ms).toBe(maxSeen);
      prev = id;
    }
  });

  it('fills the remaining 62 bits with fresh randomness', async () => {
    const newMessageId = await freshGenerator();
    const tails = new Set<string>();
    for (let i = 0; i < 100; i++) tails.add(parts(newMessageId(T + i)).hex.slice(17));
    expect(tails.size).toBe(100);
  });
});
