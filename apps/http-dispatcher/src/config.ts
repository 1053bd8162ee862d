/**
 * Configuration of the http-dispatcher binary, parsed once at the edge with zod from (lowest to highest)
 * built-in defaults, an optional JSON config file, environment variables and command-line flags. The
 * original HTTP Dispatcher's variables keep their names and defaults. Errors name the setting:
 * `WORKER: must be a whole number from 1 to 9007199254740991, got "many"`.
 */
import { readFileSync } from 'node:fs';
import type { DestinationRule, HttpProxyOptions, IntRange } from '@dispatcher/http-proxy';
import {
  HTTP_PROXY_LIMITS as LIMITS,
  ProxyError,
  parseAllowedDestinations,
  resolveProxyOptions,
} from '@dispatcher/http-proxy';
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const inRange = ({ min, max, why }: IntRange) =>
  `must be a whole number from ${min} to ${max}${why ? ` (${why})` : ''}`;

/** A whole number within the proxy option's range; the error names the range, whatever is wrong. */
const int = (range: IntRange) =>
  z.string().transform((value, ctx) => {
    const text = value.trim();
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < range.min || n > range.max) {
      ctx.addIssue({ code: 'custom', message: `${inRange(range)}, got "${value}"` });
      return z.NEVER;
    }
    return n;
  });

/** The same for a number in the JSON config file. */
const fileInt = (range: IntRange) =>
  z.number().refine((n) => Number.isInteger(n) && n >= range.min && n <= range.max, inRange(range));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const listen = z.string().transform((value, ctx) => {
  const m = /^(.*):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected host:port or :port, got "${value}"` });
    return z.NEVER;
  }
  if (port > LIMITS.port.max) {
    ctx.addIssue({ code: 'custom', message: `port must be from 0 to ${LIMITS.port.max}, got "${value}"` });
    return z.NEVER;
  }
  const host = m[1] === '' ? undefined : (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
});

const destinationRule = z.object({
  match: z.string().min(1),
  concurrency: fileInt(LIMITS.perDestinationConcurrency).optional(),
  ratePerSec: z.number().positive().optional(),
  burst: fileInt({ min: 1, max: Number.MAX_SAFE_INTEGER }).optional(),
  timeoutMs: fileInt(LIMITS.defaultTimeoutMs).optional(),
  retryStatuses: z.array(fileInt({ min: 100, max: 599 })).optional(),
  failureThreshold: fileInt(LIMITS.failureThreshold).optional(),
  cooldownMs: fileInt(LIMITS.cooldownMs).optional(),
});

const configFile = z.object({ destinations: z.array(destinationRule).default([]) }).strict();

/** Every setting: env name, flag, meaning and default (for --help and the README). */
export const SETTINGS = [
  ['LISTEN', 'address to listen on, host:port or :port', ':80'],
  [
    'STORE',
    'embedded (the transaction log on local disk), postgres (uses DATABASE_URL) or a postgres:// URL (fleet mode)',
    'embedded, or postgres when DATABASE_URL is set',
  ],
  ['DATABASE_URL', 'PostgreSQL connection URL for STORE=postgres (postgres://user@host:5432/db)', ''],
  ['PG_POOL_MAX', 'most PostgreSQL connections of this instance', '10'],
  ['PG_CONNECT_TIMEOUT_MS', 'wait for a PostgreSQL connection before answering 503, ms', '2000'],
  ['PG_LEASE_MS', 'how long a claimed request is held before other instances may take it, ms', '30000'],
  [
    'DELIVERED_RETENTION_MS',
    'PostgreSQL: delivered ids kept for status look-ups, then deleted in bulk, ms',
    '86400000',
  ],
  [
    'PG_MIGRATE',
    'apply schema migrations at start-up (true/false); else run `http-dispatcher migrate`',
    'true',
  ],
  ['TRANSACTION_LOG', 'directory of the durable transaction log', 'transaction.log'],
  ['DEAD_LETTER', 'directory of the dead-letter store', 'deadletter.log'],
  ['WORKER', 'deliveries in flight at once, over all destinations', '10'],
  [
    'DELIVERY_THREADS',
    'worker threads making the outbound HTTP calls (outcomes are recorded by the main thread); 0 = on the main thread',
    '0',
  ],
  ['RETRYLIMIT', 'retries before a request is dead-lettered (alias RETRY_LIMIT)', '10'],
  ['DEFAULT_TIMEOUT', 'per-attempt timeout in ms unless X-Dispatcher-Timeout says otherwise', '10000'],
  ['EVENT_SOURCING', 'keep the full history in the log (true/false)', 'false'],
  ['RETRY_BACKOFF', 'exponential (with jitter) or legacy (the original 2^n seconds)', 'exponential'],
  ['RETRY_BASE_MS', 'first retry delay of the exponential schedule, ms', '1000'],
  ['RETRY_MAX_MS', 'longest retry delay, ms', '300000'],
  [
    'ALLOWED_DESTINATIONS',
    'comma-separated host, host:port, *.domain, CIDR or *; unset = public addresses only',
    '',
  ],
  [
    'ADMIN_TOKEN',
    'bearer token for /_dispatcher/ admin routes; unset = loopback clients only, naming a host of ADMIN_HOSTS',
    '',
  ],
  [
    'ADMIN_HOSTS',
    'comma-separated names (name or name:port) the admin routes answer besides localhost, 127.x.x.x and [::1]; other Host headers get 421 without a token, and admin writes from other origins get 403',
    '',
  ],
  ['DESTINATION_CONCURRENCY', 'deliveries in flight to one destination', 'ceil(WORKER/2)'],
  ['MAX_BODY_BYTES', 'largest request body accepted (413 above; at most 15728640)', '10485760'],
  ['MAX_BACKLOG', 'pending requests before new ones get 503', '5000000'],
  ['MIN_FREE_DISK_BYTES', 'free disk below which new requests get 503', '268435456'],
  ['MAX_RSS_BYTES', 'resident memory above which new requests get 503', ''],
  ['IDEMPOTENCY_WINDOW_MS', 'how long an idempotency key is remembered', '86400000'],
  ['MAX_IDEMPOTENCY_KEYS', 'idempotency keys remembered at once; the oldest is forgotten first', '1000000'],
  ['MAX_DEAD_LETTER_IDS', 'dead-letter ids indexed in memory; older ones are found by a log scan', '1000000'],
  [
    'MAX_DELIVERED_IDS',
    'delivered ids that /_dispatcher/messages/{id} still reports (across restarts)',
    '100000',
  ],
  [
    'MAX_DESTINATIONS',
    'per-destination states kept; idle ones past it are dropped, in-use ones never',
    '10000',
  ],
  ['SIGNING_SECRET', 'Standard Webhooks secret (whsec_...); deliveries are signed when set', ''],
  ['SHUTDOWN_TIMEOUT_MS', 'on SIGTERM/SIGINT, wait this long for deliveries in flight', '10000'],
  [
    'HEADERS_TIMEOUT_MS',
    'a client must send its request headers within this many ms (408 and close after; slowloris guard)',
    '10000',
  ],
  [
    'REQUEST_TIMEOUT_MS',
    'a client must send its whole request, body included, within this many ms (408 and close after)',
    '60000',
  ],
  [
    'CONFIG_FILE',
    'JSON file with per-destination rules: {"destinations":[{"match":"api.example.com","concurrency":4,"ratePerSec":50}]}',
    '',
  ],
  ['LOG_LEVEL', 'trace, debug, info, warn, error or fatal', 'info'],
] as const;

type SettingName = (typeof SETTINGS)[number][0] | 'RETRY_LIMIT';

const postgresUrl = z
  .string()
  .trim()
  .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL');

const positive = z.string().transform((value, ctx) => {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || n < 1 || !Number.isSafeInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `must be a whole number from 1, got "${value}"` });
    return z.NEVER;
  }
  return n;
});

const schema = z.object({
  LISTEN: listen.prefault(':80'),
  STORE: z.union([z.enum(['embedded', 'postgres']), postgresUrl]).optional(),
  DATABASE_URL: postgresUrl.optional(),
  PG_POOL_MAX: positive.optional(),
  PG_CONNECT_TIMEOUT_MS: positive.optional(),
  PG_LEASE_MS: positive.optional(),
  DELIVERED_RETENTION_MS: positive.optional(),
  PG_MIGRATE: bool.optional(),
  TRANSACTION_LOG: z.string().min(1, 'must not be empty').default('transaction.log'),
  DEAD_LETTER: z.string().min(1, 'must not be empty').default('deadletter.log'),
  WORKER: int(LIMITS.workers).optional(),
  DELIVERY_THREADS: int(LIMITS.deliveryThreads).optional(),
  RETRYLIMIT: int(LIMITS.retryLimit).optional(),
  RETRY_LIMIT: int(LIMITS.retryLimit).optional(),
  DEFAULT_TIMEOUT: int(LIMITS.defaultTimeoutMs).optional(),
  EVENT_SOURCING: bool.optional(),
  RETRY_BACKOFF: z.enum(['exponential', 'legacy']).optional(),
  RETRY_BASE_MS: int(LIMITS.retryBaseMs).optional(),
  RETRY_MAX_MS: int(LIMITS.retryMaxMs).optional(),
  ALLOWED_DESTINATIONS: z
    .string()
    .transform((v, ctx) => {
      try {
        return parseAllowedDestinations(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  ADMIN_HOSTS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== ''),
    )
    .optional(),
  DESTINATION_CONCURRENCY: int(LIMITS.perDestinationConcurrency).optional(),
  MAX_BODY_BYTES: int(LIMITS.maxBodyBytes).optional(),
  MAX_BACKLOG: int(LIMITS.maxBacklog).optional(),
  MIN_FREE_DISK_BYTES: int(LIMITS.minFreeDiskBytes).optional(),
  MAX_RSS_BYTES: int(LIMITS.maxRssBytes).optional(),
  IDEMPOTENCY_WINDOW_MS: int(LIMITS.idempotencyWindowMs).optional(),
  MAX_IDEMPOTENCY_KEYS: int(LIMITS.maxIdempotencyKeys).optional(),
  MAX_DEAD_LETTER_IDS: int(LIMITS.maxDeadLetterIds).optional(),
  MAX_DELIVERED_IDS: int(LIMITS.maxDeliveredIds).optional(),
  MAX_DESTINATIONS: int(LIMITS.maxDestinations).optional(),
  SIGNING_SECRET: z.string().min(8, 'is too short').optional(),
  SHUTDOWN_TIMEOUT_MS: int(LIMITS.shutdownTimeoutMs).optional(),
  HEADERS_TIMEOUT_MS: int(LIMITS.headersTimeoutMs).optional(),
  REQUEST_TIMEOUT_MS: int(LIMITS.requestTimeoutMs).optional(),
  CONFIG_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
});

export interface AppConfig {
  proxy: Omit<HttpProxyOptions, 'logger'>;
  logLevel: string;
}

export const HELP = `Usage: http-dispatcher [options]

A durable store-and-forward HTTP dispatcher: send it the request you would send to the destination, with
X-Dispatcher-Origin-Host naming the destination; it answers 202 once the request is on disk and delivers
it with retries. Admin API, health and metrics under /_dispatcher/.

Settings come from environment variables or the matching flags (--worker 20, --event-sourcing=true):
${SETTINGS.map(([env, help, def]) => `  ${`--${env.toLowerCase().replace(/_/g, '-')}`.padEnd(26)} [${env}] ${help}${def ? ` (default ${def})` : ''}`).join('\n')}
  -h, --help                 show this help
`;

const FLAG_TO_ENV = new Map<string, SettingName>([
  ...SETTINGS.map(([env]) => [`--${env.toLowerCase().replace(/_/g, '-')}`, env] as [string, SettingName]),
  ['--retry-limit', 'RETRY_LIMIT'],
]);

export type ParsedArgs = { help: true } | { help: false; command?: 'migrate'; config: AppConfig };

export function parseConfig(env: NodeJS.ProcessEnv, args: readonly string[]): ParsedArgs {
  let argv = args;
  const input: Record<string, string> = {};
  // `http-dispatcher migrate [options]`: apply schema migrations and exit.
  const command = argv[0] === 'migrate' ? ('migrate' as const) : undefined;
  if (command) argv = argv.slice(1);
  for (const name of [...SETTINGS.map(([n]) => n), 'RETRY_LIMIT']) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return { help: true };
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = FLAG_TO_ENV.get(flag);
    if (!name) throw new ConfigError(`unknown option ${flag} (see --help)`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${flag}: missing value`);
    input[name] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'),
    );
  }
  const c = parsed.data;
  if (c.RETRYLIMIT !== undefined && c.RETRY_LIMIT !== undefined && c.RETRYLIMIT !== c.RETRY_LIMIT) {
    throw new ConfigError(
      `RETRY_LIMIT: conflicts with RETRYLIMIT (${c.RETRY_LIMIT} vs ${c.RETRYLIMIT}); set one`,
    );
  }
  let destinations: DestinationRule[] = [];
  if (c.CONFIG_FILE) destinations = readConfigFile(c.CONFIG_FILE);
  const retryLimit = c.RETRYLIMIT ?? c.RETRY_LIMIT;
  const postgres = postgresOf(c);
  if (command && !postgres)
    throw new ConfigError('migrate: set STORE=postgres with DATABASE_URL, or STORE=postgres://…');
  const proxy: AppConfig['proxy'] = {
    dataDir: c.TRANSACTION_LOG,
    deadLetterDir: c.DEAD_LETTER,
    port: c.LISTEN.port,
    destinations,
    ...(c.LISTEN.host ? { host: c.LISTEN.host } : {}),
    ...(retryLimit === undefined ? {} : { retryLimit }),
    ...givenOptions(c, PROXY_OPTION_SETTING),
    ...(postgres ? { postgres } : {}),
  };
  checkProxyOptions(proxy);
  return { help: false, ...(command ? { command } : {}), config: { proxy, logLevel: c.LOG_LEVEL } };
}

/** The PostgreSQL store's options, or undefined for the embedded log. */
function postgresOf(c: Settings): HttpProxyOptions['postgres'] {
  let url: string | undefined;
  if (c.STORE === 'embedded') url = undefined;
  else if (c.STORE === 'postgres') {
    if (!c.DATABASE_URL) throw new ConfigError('STORE: postgres needs DATABASE_URL');
    url = c.DATABASE_URL;
  } else url = c.STORE ?? c.DATABASE_URL;
  if (url === undefined) return undefined;
  return {
    connectionString: url,
    ...givenOptions(c, POSTGRES_OPTION_SETTING),
  };
}

type Settings = z.infer<typeof schema>;

/** The proxy options that take a setting's value as it is, set only when the setting is given. */
const PROXY_OPTION_SETTING = {
  workers: 'WORKER',
  deliveryThreads: 'DELIVERY_THREADS',
  defaultTimeoutMs: 'DEFAULT_TIMEOUT',
  eventSourcing: 'EVENT_SOURCING',
  retryBackoff: 'RETRY_BACKOFF',
  retryBaseMs: 'RETRY_BASE_MS',
  retryMaxMs: 'RETRY_MAX_MS',
  allowedDestinations: 'ALLOWED_DESTINATIONS',
  adminToken: 'ADMIN_TOKEN',
  adminHosts: 'ADMIN_HOSTS',
  perDestinationConcurrency: 'DESTINATION_CONCURRENCY',
  maxBodyBytes: 'MAX_BODY_BYTES',
  maxBacklog: 'MAX_BACKLOG',
  minFreeDiskBytes: 'MIN_FREE_DISK_BYTES',
  maxRssBytes: 'MAX_RSS_BYTES',
  idempotencyWindowMs: 'IDEMPOTENCY_WINDOW_MS',
  maxIdempotencyKeys: 'MAX_IDEMPOTENCY_KEYS',
  maxDeadLetterIds: 'MAX_DEAD_LETTER_IDS',
  maxDeliveredIds: 'MAX_DELIVERED_IDS',
  maxDestinations: 'MAX_DESTINATIONS',
  signingSecret: 'SIGNING_SECRET',
  shutdownTimeoutMs: 'SHUTDOWN_TIMEOUT_MS',
  headersTimeoutMs: 'HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
} as const satisfies Partial<Record<keyof HttpProxyOptions, keyof Settings>>;

/** The same for the PostgreSQL store's options. */
const POSTGRES_OPTION_SETTING = {
  poolMax: 'PG_POOL_MAX',
  connectTimeoutMs: 'PG_CONNECT_TIMEOUT_MS',
  leaseMs: 'PG_LEASE_MS',
  deliveredRetentionMs: 'DELIVERED_RETENTION_MS',
  migrate: 'PG_MIGRATE',
} as const satisfies Record<string, keyof Settings>;

/** The options of `table` whose settings were given, each with its setting's value. */
function givenOptions<T extends Readonly<Record<string, keyof Settings>>>(
  c: Settings,
  table: T,
): { [K in keyof T]?: Exclude<Settings[T[K]], undefined> } {
  const options: Record<string, unknown> = {};
  for (const [option, setting] of Object.entries(table)) {
    if (c[setting] !== undefined) options[option] = c[setting];
  }
  return options as { [K in keyof T]?: Exclude<Settings[T[K]], undefined> };
}

/** The proxy option each setting feeds, so the proxy's own checks are reported under the setting's name. */
const SETTING_OF_OPTION: Readonly<Record<string, string>> = {
  dataDir: 'TRANSACTION_LOG',
  deadLetterDir: 'DEAD_LETTER',
  port: 'LISTEN',
  retryLimit: 'RETRYLIMIT',
  destinations: 'CONFIG_FILE',
  ...PROXY_OPTION_SETTING,
};

/** Runs the proxy's checks (cross-setting ones too) now, naming the setting, so start-up exits with 2. */
function checkProxyOptions(proxy: AppConfig['proxy']): void {
  try {
    resolveProxyOptions(proxy);
  } catch (err) {
    if (!(err instanceof ProxyError) || err.code !== 'DSP_PROXY_INVALID_ARGUMENT') throw err;
    // The option that failed leads the message; other options it names are camelCase words (`retryBaseMs`),
    // while plain words (`port` in "name:port") stay as they are.
    const option = String(err.details?.option ?? '');
    const rest = err.message.startsWith(`${option}: `) ? err.message.slice(option.length + 2) : err.message;
    const renamed = rest.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, (word) => SETTING_OF_OPTION[word] ?? word);
    throw new ConfigError(option ? `${SETTING_OF_OPTION[option] ?? option}: ${renamed}` : renamed);
  }
}

function readConfigFile(path: string): DestinationRule[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`CONFIG_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = configFile.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues
        .map((i) => `CONFIG_FILE ${path}: ${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('\n'),
    );
  }
  return parsed.data.destinations;
}
