import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Hold, PendingHolds } from '../../store/pending-holds.js';
import { ConfirmTracker } from './confirm-tracker.js';

type Sent = readonly ['ack', number, boolean] | readonly ['nack', number];

function tracker() {
  const sent: Sent[] = [];
  let readyCalls = 0;
  const t = new ConfirmTracker({
    ack: (tag, multiple) => sent.push(['ack', tag, multiple]),
    nack: (tag) => sent.push(['nack', tag]),
    ready: () => readyCalls++,
  });
  return { t, sent, readyCalls: () => readyCalls };
}

/** Publishes `n` messages; each gets `extra` holds besides the publisher's own. */
function publish(t: ConfirmTracker, n: number, extra = 0): { handle: PendingHolds; holds: Hold[] }[] {
  return Array.from({ length: n }, () => {
    const handle = t.track();
    return { handle, holds: Array.from({ length: extra }, () => handle.hold()) };
  });
}

describe('ConfirmTracker', () => {
  it('assigns consecutive delivery tags from 1', () => {
    const { t } = tracker();
    expect(t.nextTag).toBe(1);
    publish(t, 3);
    expect(t.nextTag).toBe(4);
    expect(t.unconfirmed).toBe(3);
  });

  it('sends nothing until flushed, then one multiple ack for the whole batch (in-memory: released at once)', () => {
    const { t, sent, readyCalls } = tracker();
    for (const p of publish(t, 5)) p.handle.release();
    expect(sent).toEqual([]);
    expect(readyCalls()).toBe(5);
    t.flush();
    expect(sent).toEqual([['ack', 5, true]]);
    expect(t.unconfirmed).toBe(0);
    t.flush();
    expect(sent).toHaveLength(1);
  });

  it('acks a single ready tag with multiple=false', () => {
    const { t, sent } = tracker();
    const [p] = publish(t, 1);
    p!.handle.release();
    t.flush();
    expect(sent).toEqual([['ack', 1, false]]);
  });

  it('waits for every hold of a message, released in any order', () => {
    const { t, sent } = tracker();
    const [p] = publish(t, 1, 2);
    p!.holds[1]!.release();
    p!.handle.release();
    t.flush();
    expect(sent).toEqual([]);
    p!.holds[0]!.release();
    t.flush();
    expect(sent).toEqual([['ack', 1, false]]);
  });

  it('coalesces only the prefix below the lowest pending tag; later ready tags go one by one', () => {
    const { t, sent } = tracker();
    const ps = publish(t, 5, 1);
    for (const p of ps) p.handle.release();
    for (const i of [0, 1, 3, 4]) ps[i]!.holds[0]!.release();
    t.flush();
    expect(sent).toEqual([
      ['ack', 2, true],
      ['ack', 4, false],
      ['ack', 5, false],
    ]);
    ps[2]!.holds[0]!.release();
    t.flush();
    expect(sent.slice(3)).toEqual([['ack', 3, false]]);
  });

  it('coalesces tags released out of order before the flush', () => {
    const { t, sent } = tracker();
    const ps = publish(t, 4, 1);
    for (const p of ps) p.handle.release();
    for (const i of [3, 1, 2, 0]) ps[i]!.holds[0]!.release();
    t.flush();
    expect(sent).toEqual([['ack', 4, true]]);
  });

  it('nacks a failed message at once, after the acks that are ready before it', () => {
    const { t, sent } = tracker();
    const ps = publish(t, 4);
    ps[0]!.handle.release();
    ps[1]!.handle.release();
    ps[2]!.handle.fail();
    expect(sent).toEqual([
      ['ack', 2, true],
      ['nack', 3],
    ]);
    ps[3]!.handle.release();
    t.flush();
    expect(sent.slice(2)).toEqual([['ack', 4, false]]);
  });

  it('nacks when one hold fails, without waiting for the others', () => {
    const { t, sent } = tracker();
    const [p] = publish(t, 1, 2);
    p!.handle.release();
    p!.holds[0]!.fail();
    expect(sent).toEqual([['nack', 1]]);
    p!.holds[1]!.release();
    t.flush();
    expect(sent).toEqual([['nack', 1]]);
  });

  it('never lets a multiple ack cover a nacked or pending tag', () => {
    const { t, sent } = tracker();
    const ps = publish(t, 5, 1);
    for (const p of ps) p.handle.release();
    ps[0]!.holds[0]!.release(); // 1 ready, 2 pending
    ps[3]!.holds[0]!.release(); // 4 ready
    ps[2]!.holds[0]!.fail(); // 3 nacked: the ready acks go first, 4 alone (2 is pending)
    expect(sent).toEqual([
      ['ack', 1, false],
      ['ack', 4, false],
      ['nack', 3],
    ]);
    ps[4]!.holds[0]!.release();
    ps[1]!.holds[0]!.release();
    t.flush();
    expect(sent.slice(3)).toEqual([['ack', 5, true]]);
  });

  it('sends nothing once closed, whatever is released later', () => {
    const { t, sent } = tracker();
    const ps = publish(t, 2, 1);
    ps[0]!.handle.release();
    t.close();
    ps[0]!.holds[0]!.release();
    ps[1]!.handle.fail();
    t.flush();
    expect(sent).toEqual([]);
    expect(t.unconfirmed).toBe(0);
  });

  it('confirms every tag exactly once, as a client accepts them, whatever the release order', () => {
    const plan = fc
      .array(fc.record({ extra: fc.nat(3), failAt: fc.option(fc.nat(3), { freq: 4 }) }), {
        minLength: 1,
        maxLength: 25,
      })
      .chain((messages) => {
        const steps = messages.reduce((n, m) => n + m.extra + 1, 0);
        return fc.record({
          messages: fc.constant(messages),
          order: fc.shuffledSubarray(
            Array.from({ length: steps }, (_, i) => i),
            { minLength: steps, maxLength: steps },
          ),
          flushes: fc.array(fc.boolean(), { minLength: steps, maxLength: steps }),
        });
      });
    fc.assert(
      fc.property(plan, ({ messages, order, flushes }) => {
        const { t, sent } = tracker();
        // Every hold (the owner's first) of every message, numbered in publish order.
        const steps: { tag: number; index: number; hold: Hold }[] = [];
        const truth = new Map<number, { left: number; failed: boolean }>();
        for (const m of messages) {
          const handle = t.track();
          const tag = t.nextTag - 1;
          truth.set(tag, { left: m.extra + 1, failed: false });
          steps.push({ tag, index: 0, hold: handle });
          for (let i = 1; i <= m.extra; i++) steps.push({ tag, index: i, hold: handle.hold() });
        }
        // The client's view: tags still awaiting a confirm.
        const outstanding = new Set(truth.keys());
        const check = () => {
          for (const s of sent.splice(0)) {
            if (s[0] === 'nack') {
              expect(truth.get(s[1])!.failed).toBe(true);
              expect(outstanding.delete(s[1])).toBe(true);
              continue;
            }
            const [, tag, multiple] = s;
            const covered = multiple ? [...outstanding].filter((x) => x <= tag) : [tag];
            expect(covered.length).toBeGreaterThan(0);
            for (const x of covered) {
              const state = truth.get(x)!;
              expect(state.left === 0 && !state.failed).toBe(true);
              expect(outstanding.delete(x)).toBe(true);
            }
          }
        };
        order.forEach((n, i) => {
          const step = steps[n]!;
          const state = truth.get(step.tag)!;
          const message = messages[step.tag - 1]!;
          if (message.failAt !== null && message.failAt === step.index) {
            if (state.left > 0 && !state.failed) state.failed = true;
            step.hold.fail();
          } else {
            if (!state.failed) state.left--;
            step.hold.release();
          }
          if (flushes[i]) t.flush();
          check();
        });
        t.flush();
        check();
        expect([...outstanding]).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
