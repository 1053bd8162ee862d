/** The body of a task message, as a codec reads and writes it (routing and headers travel outside). */
export interface TaskBody {
  uuid: string;
  name: string;
  args: unknown;
}

/**
 * Turns task bodies into message bodies and back. `decode` throws a `TasksError` with
 * `DSP_TASKS_DECODE` for anything it cannot read; the worker dead-letters such messages.
 */
export interface TaskCodec {
  /** Short name for logs. */
  readonly name: string;
  /** Content type written on publish and matched on consume. */
  readonly contentType: string;
  encode(body: TaskBody): Buffer;
  decode(content: Buffer): TaskBody;
}
