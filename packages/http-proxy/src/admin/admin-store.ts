import { ProxyError } from '../errors.js';
import type { DeliveredInfo } from '../store/delivery-journal.js';
import type { AttemptState, DeadLetterInfo } from '../store/record-types.js';
import type { StoredRequest } from '../store/stored-request.js';
import type { Selection } from './redrive-body.js';

/** A pending request as the admin API shows it. */
export interface PendingEntry {
  /** Where a listing resumes to show this entry first (a log seq, or a row id). */
  cursor: number;
  request: StoredRequest;
  attempt: AttemptState | undefined;
  /** An attempt is in flight (embedded), or an instance holds its lease (PostgreSQL). */
  delivering: boolean;
}

export interface DeadLetterEntry {
  /** Where a listing resumes to show this entry first. */
  cursor: number;
  request: StoredRequest;
  info: DeadLetterInfo;
}

/** Where a message is. */
export type MessageLookup =
  | ({ status: 'pending' } & Omit<PendingEntry, 'cursor'>)
  | { status: 'dead-lettered'; letter: DeadLetterEntry }
  | { status: 'delivered'; info: DeliveredInfo };

/**
 * What the admin routes need of a store, by message id and list cursor. Two implementations: the embedded
 * log (`EmbeddedAdminStore`) and the PostgreSQL fleet store (`PgAdminStore`). It is not part of
 * `EngineStore`: that one is keyed by the engine's local request number and sits on the delivery path.
 */
export interface AdminStore {
  /** Where message `id` is; throws `DSP_PROXY_NOT_FOUND` when it is not pending, dead-lettered or delivered. */
  message(id: string): Promise<MessageLookup>;
  /** Pending requests in acceptance order, from `cursor` on. */
  pending(cursor: number): AsyncIterable<PendingEntry>;
  /** Dead letters, oldest first, from `cursor` on. */
  deadLetters(cursor: number): AsyncIterable<DeadLetterEntry>;
  deadLetterCount(): Promise<number>;
  /** The newest dead letter of message `id`; throws `DSP_PROXY_NOT_FOUND` when there is none. */
  deadLetter(id: string): Promise<DeadLetterEntry>;
  /**
   * Stores `copy(letter's request, now)` for each selected letter that still exists, and removes the letter once
   * its copy is durable; `onRedriven` hears of each.
   */
  redrive(
    selected: Selection,
    copy: (request: StoredRequest, now: number) => StoredRequest,
    onRedriven: (r: { from: string; id: string }) => void,
  ): Promise<void>;
  /** Removes the selected letters; resolves with how many went. */
  purge(selected: Selection): Promise<number>;
}

export function messageNotFound(id: string): ProxyError {
  return new ProxyError(
    'DSP_PROXY_NOT_FOUND',
    `no pending, dead-lettered or recently delivered message ${id}`,
    {
      details: { id },
    },
  );
}

export function deadLetterNotFound(id: string): ProxyError {
  return new ProxyError('DSP_PROXY_NOT_FOUND', `no dead letter ${id}`, { details: { id } });
}
