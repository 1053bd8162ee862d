import { hostname } from 'node:os';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { FailureLog, FailureRecord } from './failure-log.js';

/**
 * Writes failures into the original `broadcast_failure_log` table with its columns, so the existing control
 * panel keeps listing them: a row per message and subscription (inserted on the first failure, updated after),
 * `final_status` / `alive` / `retry_times` / `last_retry_time` set as the original does.
 */
export class MysqlFailureLog implements FailureLog {
  readonly #pool: Pool;
  readonly #origin = `medispatcher addr: ${hostname()} `;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async recordFailure(record: FailureRecord, logId: number): Promise<number> {
    const error = this.#origin + record.error;
    if (logId > 0) {
      const [exists] = await this.#pool.query<RowDataPacket[]>(
        'SELECT 1 FROM broadcast_failure_log WHERE log_id = ?',
        [logId],
      );
      if (exists.length > 0) {
        await this.#pool.query(
          'UPDATE broadcast_failure_log SET last_failure_message = ?, last_target = ? WHERE log_id = ?',
          [error, record.url, logId],
        );
        return logId;
      }
    }
    const [classRows] = await this.#pool.query<RowDataPacket[]>(
      'SELECT class_id FROM message_classes WHERE class_key = ?',
      [record.subscription.topic],
    );
    const [res] = await this.#pool.query<ResultSetHeader>(
      `INSERT INTO broadcast_failure_log
        (message_class_id, subscriber_id, subscription_id, message_body, time, message_time,
         last_failure_message, first_failure_message, job_id, last_target)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        Number(classRows[0]?.class_id ?? 0),
        record.subscription.subscriberId,
        record.subscription.id,
        JSON.stringify(record.message.body ?? null),
        Math.floor(Date.now() / 1000),
        record.message.time,
        error,
        error,
        record.jobId,
        record.url,
      ],
    );
    return res.insertId;
  }

  async setFinalStatus(logId: number, delivered: boolean, alive: boolean, retryTimes: number): Promise<void> {
    await this.#pool.query(
      'UPDATE broadcast_failure_log SET final_status = ?, alive = ?, retry_times = ?, last_retry_time = ? WHERE log_id = ?',
      [
        delivered ? 1 : 0,
        alive ? 1 : 0,
        retryTimes,
        retryTimes > 0 ? Math.floor(Date.now() / 1000) : 0,
        logId,
      ],
    );
  }
}
