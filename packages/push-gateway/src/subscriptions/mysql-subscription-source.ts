import type { Pool, RowDataPacket } from 'mysql2/promise';
import { type PollingSourceOptions, PollingSubscriptionSource } from './polling-subscription-source.js';
import type { Subscription, SubscriptionParamsPatch } from './subscription.js';
import { SUBSCRIPTION_DEFAULTS, type SubscriptionDefaults } from './subscription-defaults.js';
import { patchToRows, resolveParams } from './subscription-params.js';

/** Options of {@link MysqlSubscriptionSource}. */
export interface MysqlSubscriptionSourceOptions extends PollingSourceOptions {
  /** mysql2 promise pool on the control panel's database; the caller owns it. */
  pool: Pool;
  /** Defaults and caps from the gateway config. @defaultValue SUBSCRIPTION_DEFAULTS */
  defaults?: SubscriptionDefaults;
}

/** `subscriptions.status` of an active subscription in the original schema. */
const SUBSCRIPTION_NORMAL = 0;

const SELECT = `SELECT s.subscription_id, s.subscriber_id, s.reception_channel, s.status, s.timeout, c.class_key
  FROM subscriptions s INNER JOIN message_classes c ON s.message_class_id = c.class_id`;

interface SubscriptionRow extends RowDataPacket {
  subscription_id: number;
  subscriber_id: number;
  reception_channel: string | null;
  status: number;
  timeout: number | null;
  class_key: string;
}

interface ParamRow extends RowDataPacket {
  subscription_id: number;
  param_name: string;
  param_value: string | null;
}

/**
 * Subscriptions from the original control panel's schema: `subscriptions` ⋈ `message_classes` (active rows:
 * `status = 0`) and their `subscription_params` rows. Polled, so edits made by the control panel (or by hand)
 * reach every instance within `pollIntervalMs`.
 */
export class MysqlSubscriptionSource extends PollingSubscriptionSource {
  readonly #pool: Pool;
  readonly #defaults: SubscriptionDefaults;

  constructor(options: MysqlSubscriptionSourceOptions) {
    super(options);
    this.#pool = options.pool;
    this.#defaults = options.defaults ?? SUBSCRIPTION_DEFAULTS;
  }

  protected async load(): Promise<Subscription[]> {
    const [subs] = await this.#pool.query<SubscriptionRow[]>(
      `${SELECT} WHERE s.status = ? ORDER BY s.subscription_id`,
      [SUBSCRIPTION_NORMAL],
    );
    if (subs.length === 0) return [];
    const [params] = await this.#pool.query<ParamRow[]>(
      'SELECT subscription_id, param_name, param_value FROM subscription_params WHERE subscription_id IN (?)',
      [subs.map((s) => s.subscription_id)],
    );
    const bySub = new Map<number, Record<string, string>>();
    for (const p of params) {
      const rows = bySub.get(p.subscription_id) ?? {};
      rows[p.param_name] = p.param_value ?? '';
      bySub.set(p.subscription_id, rows);
    }
    return subs.map((s) => this.#build(s, bySub.get(s.subscription_id) ?? {}));
  }

  protected async loadOne(id: number): Promise<Subscription | undefined> {
    const [subs] = await this.#pool.query<SubscriptionRow[]>(`${SELECT} WHERE s.subscription_id = ?`, [id]);
    const sub = subs[0];
    if (!sub) return undefined;
    const [params] = await this.#pool.query<ParamRow[]>(
      'SELECT subscription_id, param_name, param_value FROM subscription_params WHERE subscription_id = ?',
      [id],
    );
    return this.#build(sub, Object.fromEntries(params.map((p) => [p.param_name, p.param_value ?? ''])));
  }

  protected async writeParams(id: number, patch: SubscriptionParamsPatch): Promise<void> {
    const rows = Object.entries(patchToRows(patch));
    if (rows.length === 0) return;
    const conn = await this.#pool.getConnection();
    try {
      await conn.beginTransaction();
      for (const [name, value] of rows) {
        // The original schema has no unique key on (subscription_id, param_name): replace by hand.
        await conn.query('DELETE FROM subscription_params WHERE subscription_id = ? AND param_name = ?', [
          id,
          name,
        ]);
        await conn.query(
          'INSERT INTO subscription_params (subscription_id, param_name, param_value) VALUES (?, ?, ?)',
          [id, name, value],
        );
      }
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => {});
      throw err;
    } finally {
      conn.release();
    }
  }

  protected async release(): Promise<void> {}

  #build(row: SubscriptionRow, params: Record<string, string>): Subscription {
    const receptionChannel = row.reception_channel ?? '';
    // The original used subscriptions.timeout unless a ProcessTimeout param overrides it.
    const withTimeout =
      params.ProcessTimeout === undefined && row.timeout
        ? { ...params, ProcessTimeout: String(row.timeout) }
        : params;
    return {
      id: Number(row.subscription_id),
      topic: row.class_key,
      subscriberId: Number(row.subscriber_id),
      receptionChannel,
      params: resolveParams(withTimeout, receptionChannel, this.#defaults),
    };
  }
}
