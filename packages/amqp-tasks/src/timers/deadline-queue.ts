/** What a deadline calls when it expires: a function, or an object with `expire()` (no closure per deadline). */
export type OnExpire = (() => void) | { expire(): void };

/** A deadline that can still be cancelled. */
export interface Deadline {
  /** The callback will not run (nothing happens if it already ran). */
  cancel(): void;
}

class Entry implements Deadline {
  readonly at: number;
  readonly #lane: Lane;
  /** Dropped once cancelled: a settled entry may sit in its lane's array a while; what it would call need not. */
  onExpire: OnExpire | undefined;
  done = false;

  constructor(lane: Lane, at: number, onExpire: OnExpire) {
    this.#lane = lane;
    this.at = at;
    this.onExpire = onExpire;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.onExpire = undefined;
    this.#lane.cancelled(this);
  }
}

/** Deadlines of one duration: added in deadline order, so a FIFO with one timer for its head. */
class Lane {
  readonly #ms: number;
  readonly #onEmpty: () => void;
  /** Slots before `#head` are emptied, so nothing settled stays reachable from here. */
  #entries: Array<Entry | undefined> = [];
  #head = 0;
  #live = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `onEmpty` learns that the lane holds nothing any more (and no timer). */
  constructor(ms: number, onEmpty: () => void) {
    this.#ms = ms;
    this.#onEmpty = onEmpty;
  }

  add(onExpire: OnExpire): Entry {
    const entry = new Entry(this, performance.now() + this.#ms, onExpire);
    this.#entries.push(entry);
    this.#live++;
    if (!this.#timer) this.#arm(this.#ms);
    return entry;
  }

  cancelled(entry: Entry): void {
    if (--this.#live === 0) {
      // Nothing left to wait for: no timer may keep the process alive.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#entries = [];
      this.#head = 0;
      this.#onEmpty();
      return;
    }
    if (this.#entries[this.#head] === entry) this.#skipDone();
    // Settled entries behind a long-lived head: drop them once they are most of the array.
    const dead = this.#entries.length - this.#head - this.#live;
    if (dead > 1024 && dead > this.#live) {
      this.#entries = this.#entries.slice(this.#head).filter((e) => e !== undefined && !e.done);
      this.#head = 0;
    }
  }

  #skipDone(): void {
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head]?.done) entries[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(ms)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const expired: Entry[] = [];
    this.#skipDone();
    for (let entry = this.#entries[this.#head]; entry && entry.at <= now; ) {
      entry.done = true;
      this.#live--;
      expired.push(entry);
      this.#entries[this.#head++] = undefined;
      this.#skipDone();
      entry = this.#entries[this.#head];
    }
    const next = this.#entries[this.#head];
    if (next) this.#arm(next.at - now);
    else {
      this.#entries = [];
      this.#head = 0;
      this.#onEmpty();
    }
    for (const entry of expired) {
      const { onExpire } = entry;
      entry.onExpire = undefined;
      if (typeof onExpire === 'function') onExpire();
      else onExpire?.expire();
    }
  }
}

/**
 * Many timeouts on few timers: one per distinct duration. Every publish and every task has a timeout,
 * nearly all of one duration, and nearly all are cancelled long before they expire; a `setTimeout` +
 * `clearTimeout` pair each costs more than the rest of a task's bookkeeping. Deadlines of one duration
 * expire in the order they were added (a FIFO with one timer for its head). A callback runs once, no
 * earlier than `ms` after it was added; a cancelled one never runs. A duration with no pending
 * deadline holds no timer.
 */
export class DeadlineQueue {
  readonly #lanes = new Map<number, Lane>();

  /** Runs `onExpire` after `ms` milliseconds unless cancelled first. */
  add(ms: number, onExpire: OnExpire): Deadline {
    let lane = this.#lanes.get(ms);
    if (!lane) {
      lane = new Lane(ms, () => this.#lanes.delete(ms));
      this.#lanes.set(ms, lane);
    }
    return lane.add(onExpire);
  }
}
