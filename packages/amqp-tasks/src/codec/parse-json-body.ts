import { TasksError } from '../errors.js';

/** Parses a JSON object body, turning every failure into `DSP_TASKS_DECODE`. */
export function parseJsonBody(content: Buffer, codec: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw new TasksError('DSP_TASKS_DECODE', `${codec}: body is not valid JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TasksError('DSP_TASKS_DECODE', `${codec}: body is not a JSON object`);
  }
  const body = value as Record<string, unknown>;
  if (typeof body.name !== 'string' || body.name === '') {
    throw new TasksError('DSP_TASKS_DECODE', `${codec}: body has no task name`);
  }
  if (body.uuid !== undefined && typeof body.uuid !== 'string') {
    throw new TasksError('DSP_TASKS_DECODE', `${codec}: uuid must be a string`);
  }
  return body;
}
