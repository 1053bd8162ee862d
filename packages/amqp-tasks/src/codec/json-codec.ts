import { parseJsonBody } from './parse-json-body.js';
import type { TaskBody, TaskCodec } from './task-codec.js';

/** Content type of {@link jsonCodec}. */
export const JSON_TASK_CONTENT_TYPE = 'application/vnd.dispatcher.task+json';

/**
 * The default codec: `{"uuid","name","args"}` where `args` is any JSON value (objects included), so
 * zod-typed tasks carry their arguments as they are. Its own content type keeps it apart from Go
 * messages on a shared queue.
 */
export const jsonCodec: TaskCodec = Object.freeze({
  name: 'json',
  contentType: JSON_TASK_CONTENT_TYPE,
  encode(body: TaskBody): Buffer {
    return Buffer.from(JSON.stringify({ uuid: body.uuid, name: body.name, args: body.args ?? null }));
  },
  decode(content: Buffer): TaskBody {
    const body = parseJsonBody(content, 'json codec');
    // The parsed object is ours: completed in place rather than copied (once per delivery).
    body.uuid ??= '';
    body.args ??= null;
    return body as unknown as TaskBody;
  },
});
