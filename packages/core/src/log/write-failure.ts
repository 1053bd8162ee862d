import { CoreError } from '../errors.js';

/** A write that stored fewer bytes than asked and made no progress on retry (the disk is full). */
export class ShortWriteError extends Error {
  readonly code = 'ENOSPC';
  constructor(written: number, wanted: number) {
    super(`short write: ${written} of ${wanted} bytes stored`);
    this.name = 'ShortWriteError';
  }
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** The coded error a failed log write turns into: no space (retry once space is freed) or I/O. */
export function writeFailure(err: unknown, step: string): CoreError {
  const errno = (err as { code?: unknown } | null)?.code;
  const code = typeof errno === 'string' && NO_SPACE.has(errno) ? 'DSP_CORE_LOG_NO_SPACE' : 'DSP_CORE_LOG_IO';
  const message = err instanceof Error ? err.message : String(err);
  return new CoreError(code, `log ${step} failed: ${message}`, {
    cause: err,
    details: { step, errno: typeof errno === 'string' ? errno : undefined },
  });
}
