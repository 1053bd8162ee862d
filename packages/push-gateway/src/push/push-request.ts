import { PushError } from '../errors.js';
import type { JobMessage } from '../job/job-message.js';
import { pushJobId } from '../job/tube-names.js';

/** What is sent to a subscriber for one attempt. */
export interface PushRequest {
  /** Subscriber URL with `jobid` and `retry_times` appended to its own query. */
  readonly url: string;
  /** `application/x-www-form-urlencoded` body: `message`, `jobid`, `retry_times`. */
  readonly body: string;
  readonly headers: Record<string, string>;
  /** The stable push id (`<time>-<originJobId>-<subscriptionId>`). */
  readonly jobId: string;
}

const TAG = /^\[([^\]]*)\]/;

/**
 * Picks the endpoint like the original: lines tagged `[T_ENV:X]` are used when `X` is this instance's
 * `RECEPTION_ENV`, else the untagged lines; one of them at random (a soft load balance).
 */
export function selectUrl(
  urls: readonly string[],
  receptionEnv: string | undefined,
  random: () => number = Math.random,
): string {
  const tagged: string[] = [];
  const plain: string[] = [];
  for (const raw of urls) {
    const line = raw.trim();
    const tag = TAG.exec(line);
    if (!tag) {
      if (line) plain.push(line);
      continue;
    }
    const [name, value] = (tag[1] ?? '').split(':');
    if (
      receptionEnv &&
      name?.trim().toUpperCase() === 'T_ENV' &&
      value?.trim().toUpperCase() === receptionEnv.toUpperCase()
    )
      tagged.push(line.slice(tag[0].length).trim());
  }
  const pool = tagged.length > 0 ? tagged : plain;
  const picked = pool[Math.floor(random() * pool.length)];
  if (!picked)
    throw new PushError('DSP_PUSH_NO_URL', 'the subscription has no endpoint URL usable in this environment');
  return picked;
}

/** Builds the original's request: form fields `message` (JSON of Body), `jobid`, `retry_times`; the last two in the query too. */
export function buildPushRequest(
  msg: JobMessage,
  subscriptionId: number,
  endpoint: string,
  retryTimes: number,
): PushRequest {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (err) {
    throw new PushError('DSP_PUSH_NO_URL', `subscription URL is not valid: ${endpoint}`, {
      cause: err as Error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new PushError('DSP_PUSH_NO_URL', `subscription URL is not http(s): ${endpoint}`);
  const jobId = pushJobId(msg.time, msg.originJobId, subscriptionId);
  // Appended to the raw query as the original does (`&` only when the URL has a query of its own).
  const extra = `jobid=${encodeURIComponent(jobId)}&retry_times=${retryTimes}`;
  url.search = url.search.length > 1 ? `${url.search}&${extra}` : extra;
  const body = new URLSearchParams({
    message: JSON.stringify(msg.body ?? null),
    jobid: jobId,
    retry_times: String(retryTimes),
  }).toString();
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': 'MEDipatcher/2.0.0-alpha',
    accept: '*/*',
  };
  if (msg.context) headers['x-jumei-context'] = msg.context;
  if (msg.owlContext) headers['x-jumei-owl-context'] = msg.owlContext;
  return { url: url.toString(), body, headers, jobId };
}
