import type { DeadLetter, ProxyStore } from '../store/proxy-store.js';
import { MainRecord } from '../store/record-types.js';
import { decodeStoredRequest, type StoredRequest } from '../store/stored-request.js';
import type { AdminStore, DeadLetterEntry, MessageLookup, PendingEntry } from './admin-store.js';
import { deadLetterNotFound, messageNotFound } from './admin-store.js';
import { inWindow } from './list-query.js';
import type { Selection } from './redrive-body.js';

/** Letters handled per step: bodies live in the log, so a redrive of everything never holds them all. */
const CHUNK = 256;

export interface EmbeddedAdminDeps {
  store: ProxyStore;
  /** True while the engine attempts `seq`. */
  isInflight(seq: number): boolean;
  /** The proxy's accept path: makes a request durable and schedules it. */
  enqueue(build: (id: string) => StoredRequest, now: number): Promise<{ id: string }>;
}

/** The embedded log behind {@link AdminStore}: cursors are log sequence numbers. */
export class EmbeddedAdminStore implements AdminStore {
  readonly #store: ProxyStore;
  readonly #deps: EmbeddedAdminDeps;
  /**
   * Redrive and purge run one at a time: two concurrent redrives of the same letters would otherwise both
   * copy them.
   */
  readonly #exclusive = serialized();

  constructor(deps: EmbeddedAdminDeps) {
    this.#store = deps.store;
    this.#deps = deps;
  }

  async message(id: string): Promise<MessageLookup> {
    const store = this.#store;
    const seq = store.seqOf(id);
    if (seq !== undefined && store.main.has(seq)) {
      const rec = await store.main.read(seq);
      if (rec.type === MainRecord.Request) {
        const request = decodeStoredRequest(rec.body);
        if (request.message.id === id) return { status: 'pending', ...this.#pendingEntry(seq, request) };
      }
    }
    const deadSeq = await store.findDeadLetter(id);
    if (deadSeq !== undefined)
      return { status: 'dead-lettered', letter: entry(await store.readDeadLetter(deadSeq)) };
    const delivered = store.journal.deliveredInfo(id);
    if (delivered) return { status: 'delivered', info: delivered };
    throw messageNotFound(id);
  }

  async *pending(cursor: number): AsyncGenerator<PendingEntry> {
    for await (const rec of this.#store.main.live({ fromSeq: cursor })) {
      if (rec.type === MainRecord.Request) yield this.#pendingEntry(rec.seq, decodeStoredRequest(rec.body));
    }
  }

  async *deadLetters(cursor: number): AsyncGenerator<DeadLetterEntry> {
    for await (const l of this.#store.deadLetters(cursor)) yield entry(l);
  }

  async deadLetterCount(): Promise<number> {
    return this.#store.deadLetterCount;
  }

  async deadLetter(id: string): Promise<DeadLetterEntry> {
    const seq = await this.#store.findDeadLetter(id);
    if (seq === undefined) throw deadLetterNotFound(id);
    return entry(await this.#store.readDeadLetter(seq));
  }

  redrive(
    selected: Selection,
    copy: (request: StoredRequest, now: number) => StoredRequest,
    onRedriven: (r: { from: string; id: string }) => void,
  ): Promise<void> {
    return this.#exclusive(async () => {
      const now = Date.now();
      for await (const letters of this.#chunks(selected)) {
        // Another request may have redriven or purged some of them since they were read.
        const current = letters.filter((l) => this.#store.dead.has(l.seq));
        for (const l of current) {
          // The copy keeps the letter's message id (receivers de-duplicate on it, and on the `webhook-id`
          // derived from it), so its new record's seq is not the one in its id; `redriveOf` names the
          // letter, so recovery can finish the redrive after a crash.
          const { id } = await this.#deps.enqueue(() => ({ ...copy(l.request, now), redriveOf: l.seq }), now);
          onRedriven({ from: l.request.message.id, id });
        }
        // The copies are durable in the main log before the dead letters go.
        await this.#store.removeDeadLetters(current);
      }
    });
  }

  purge(selected: Selection): Promise<number> {
    return this.#exclusive(async () => {
      let purged = 0;
      for await (const letters of this.#chunks(selected)) {
        const current = letters.filter((l) => this.#store.dead.has(l.seq));
        await this.#store.removeDeadLetters(current);
        purged += current.length;
      }
      return purged;
    });
  }

  #pendingEntry(seq: number, request: StoredRequest): PendingEntry {
    return {
      cursor: seq,
      request,
      attempt: this.#store.attemptState(seq),
      delivering: this.#deps.isInflight(seq),
    };
  }

  /**
   * The selected dead letters, a chunk at a time. Each chunk is handled (and removed) before the next is
   * read, so memory stays bounded; letters removed meanwhile by another request are skipped.
   */
  async *#chunks(s: Selection): AsyncGenerator<DeadLetter[]> {
    const store = this.#store;
    if (s.ids) {
      let chunk: DeadLetter[] = [];
      // An id listed twice is one letter: it must not be copied twice.
      for (const id of new Set(s.ids)) {
        const seq = await store.findDeadLetter(id);
        if (seq === undefined) continue;
        chunk.push(await store.readDeadLetter(seq));
        if (chunk.length === CHUNK) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length > 0) yield chunk;
      return;
    }
    // Only letters that existed when the request began: a redriven copy that fails again is dead-lettered
    // behind the cursor, and must not be picked up (and copied again) by a later chunk of the same request.
    const end = store.dead.nextSeq;
    let from = 0;
    for (;;) {
      const chunk: DeadLetter[] = [];
      let more = false;
      for await (const l of store.deadLetters(from)) {
        if (l.seq >= end) break;
        if (!inWindow(s, l.info.host, l.info.deadAt)) continue;
        if (chunk.length === CHUNK) {
          more = true;
          break;
        }
        chunk.push(l);
      }
      if (chunk.length > 0) yield chunk;
      if (!more) return;
      from = (chunk.at(-1)?.seq ?? from) + 1;
    }
  }
}

function entry(l: DeadLetter): DeadLetterEntry {
  return { cursor: l.seq, request: l.request, info: l.info };
}

function serialized(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}
