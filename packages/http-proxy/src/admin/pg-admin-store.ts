import type { DeliveredInfo } from '../store/delivery-journal.js';
import type { PgDeadLetter, PgStore } from '../store/pg/pg-store.js';
import type { StoredRequest } from '../store/stored-request.js';
import type { AdminStore, DeadLetterEntry, MessageLookup, PendingEntry } from './admin-store.js';
import { deadLetterNotFound, messageNotFound } from './admin-store.js';
import { inWindow } from './list-query.js';
import type { Selection } from './redrive-body.js';

/** Rows read per query. */
const CHUNK = 256;

/**
 * The PostgreSQL store behind {@link AdminStore}, answered the same from any instance of the fleet.
 * Cursors are row ids; a listing resumes at its cursor's row (the store's queries start after a row id).
 */
export class PgAdminStore implements AdminStore {
  readonly #pg: PgStore;

  constructor(pg: PgStore) {
    this.#pg = pg;
  }

  async message(id: string): Promise<MessageLookup> {
    const found = await this.#pg.lookup(id);
    if (!found) throw messageNotFound(id);
    switch (found.status) {
      case 'dead-lettered':
        return { status: 'dead-lettered', letter: entry(found.letter) };
      case 'delivered':
        return { status: 'delivered', info: found.info as unknown as DeliveredInfo };
      case 'pending':
        return {
          status: 'pending',
          request: found.request,
          attempt: found.attempt,
          delivering: found.leased,
        };
    }
  }

  async *pending(cursor: number): AsyncGenerator<PendingEntry> {
    let after = cursor > 0 ? String(cursor - 1) : undefined;
    for (;;) {
      const rows = await this.#pg.pending(after, CHUNK);
      for (const r of rows)
        yield { cursor: Number(r.cursor), request: r.request, attempt: r.attempt, delivering: r.leased };
      if (rows.length < CHUNK) return;
      after = rows.at(-1)?.cursor;
    }
  }

  async *deadLetters(cursor: number): AsyncGenerator<DeadLetterEntry> {
    let after = cursor > 0 ? String(cursor - 1) : undefined;
    for (;;) {
      const rows = await this.#pg.deadLetters(after, CHUNK);
      for (const l of rows) yield entry(l);
      if (rows.length < CHUNK) return;
      after = rows.at(-1)?.cursor;
    }
  }

  deadLetterCount(): Promise<number> {
    return this.#pg.deadLetterCount();
  }

  async deadLetter(id: string): Promise<DeadLetterEntry> {
    const l = await this.#pg.readDeadLetter(id);
    if (!l) throw deadLetterNotFound(id);
    return entry(l);
  }

  async redrive(
    selected: Selection,
    copy: (request: StoredRequest, now: number) => StoredRequest,
    onRedriven: (r: { from: string; id: string }) => void,
  ): Promise<void> {
    const now = Date.now();
    const rows = await this.#selected(selected);
    // Each chunk in one transaction: the letters go as their copies are stored (a letter another instance
    // redrove meanwhile is not there to delete, and is not copied twice).
    for (let i = 0; i < rows.length; i += CHUNK) {
      const ids = await this.#pg.redrive(rows.slice(i, i + CHUNK), (r) => copy(r, now));
      for (const id of ids) onRedriven({ from: id, id });
    }
  }

  async purge(selected: Selection): Promise<number> {
    const rows = await this.#selected(selected);
    let purged = 0;
    for (let i = 0; i < rows.length; i += CHUNK)
      purged += await this.#pg.purgeDeadLetters(rows.slice(i, i + CHUNK));
    return purged;
  }

  /** Row ids of the selected letters (those that exist when the request begins). */
  async #selected(s: Selection): Promise<string[]> {
    const out: string[] = [];
    if (s.ids) {
      for (const id of new Set(s.ids)) {
        const l = await this.#pg.readDeadLetter(id);
        if (l) out.push(l.id);
      }
      return out;
    }
    let cursor: string | undefined;
    for (;;) {
      const rows = await this.#pg.deadLetters(cursor, CHUNK);
      for (const l of rows) if (inWindow(s, l.info.host, l.info.deadAt)) out.push(l.id);
      if (rows.length < CHUNK) return out;
      cursor = rows.at(-1)?.cursor;
    }
  }
}

function entry(l: PgDeadLetter): DeadLetterEntry {
  return { cursor: Number(l.id), request: l.request, info: l.info };
}
