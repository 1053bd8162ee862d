import { TasksError } from '../errors.js';
import { goCodec } from './go-codec.js';
import { jsonCodec } from './json-codec.js';
import type { TaskCodec } from './task-codec.js';

/**
 * Picks the codec for an incoming message by content type, so one worker reads both our format and the
 * Go one. A message without a content type is tried as ours (its `args` may be any JSON).
 */
export function selectCodec(contentType: unknown, codecs: readonly TaskCodec[]): TaskCodec {
  if (contentType === undefined || contentType === null || contentType === '') return jsonCodec;
  // Nearly every message carries a codec's exact content type: found without parsing it.
  for (const codec of codecs) if (codec.contentType === contentType) return codec;
  const type = String(contentType).split(';')[0]?.trim().toLowerCase();
  const codec = codecs.find((candidate) => candidate.contentType === type);
  if (!codec) {
    throw new TasksError('DSP_TASKS_DECODE', `no codec for content type ${JSON.stringify(contentType)}`);
  }
  return codec;
}

/** The codecs every worker reads unless told otherwise. */
export const DEFAULT_CODECS: readonly TaskCodec[] = Object.freeze([jsonCodec, goCodec]);
