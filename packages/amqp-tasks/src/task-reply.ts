/**
 * The reply a worker sends for a task published with `replyTo` (`call()`). `reason` is the dead-letter
 * reason of a failed task, or `'encode'` when the task ran but its result could not be encoded (code
 * `DSP_TASKS_ENCODE`).
 */
export type TaskReply =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; reason?: string } };

/** `reason` of the reply for a result that could not be encoded. */
export const ENCODE_REPLY_REASON = 'encode';
