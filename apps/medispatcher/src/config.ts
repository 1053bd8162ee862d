/**
 * Configuration of the medispatcher binary: the original's TOML file (same keys, same defaults: see
 * `Docs/etc/medispatcher.toml` of medispatcher 2.5.1), parsed once here with smol-toml and zod. Keys this
 * gateway does not use (DAEMON_USER, DebugAddr, the alerter sections read by the control plane…) are accepted
 * and kept in `raw`. Errors name the key: `QueueServerAddr: must be host:port[,host:port…]`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const HELP = `Usage: medispatcher [-f] /path/to/medispatcher.toml
       medispatcher --help | --version

Pushes messages from the beanstalkd main tube to HTTP subscribers (drop-in for medispatcher 2.5.1).
The TOML file uses the original keys (QueueServerAddr, NameOfMainQueue, SendersPerChannel, [Redis], [Database], …);
without [Database] (or with SubscriptionSource = "redis") subscriptions are kept in Redis only.

Options:
  -f FILE        config file (also accepted as the only argument)
  -h, --help     this help
  -v, --version  version and build info
`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

const count = (max = 1_000_000) => z.number().int().min(0).max(max);
const addressList = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .transform((s) =>
    s
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== ''),
  )
  .refine((list) => list.every((a) => /^[^:\s]+(:\d{1,5})?$/.test(a)), 'must be host:port[,host:port…]');

const listenAddr = z
  .string()
  .trim()
  .refine(
    (a) => a === '' || (/^[^\s]*:\d{1,5}$/.test(a) && Number(a.slice(a.lastIndexOf(':') + 1)) <= 65_535),
    'must be host:port (or "" for off)',
  );

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/i;

/** Splits `host:port` (`:5601` and `[::1]:5601` included); an empty host means every interface. */
export function splitListenAddr(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  const host = addr.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(addr.slice(at + 1)) };
}

/** The TOML keys the gateway reads, with the original 2.5.1 defaults. */
const fileSchema = z
  .object({
    LOG_DIR: z.string().optional(),
    LogLevel: z.enum(LOG_LEVELS).default('info'),
    RECEPTION_ENV: z.string().optional(),
    QueueServerAddr: addressList.default(['127.0.0.1:11300']),
    QueueServerPoolListenConnCount: count(1_000).default(2),
    QueueServerPoolCmdConnCount: count(1_000).default(1),
    NameOfMainQueue: z.string().min(1).default('main-incoming-queue'),
    PrefixOfChannelQueue: z.string().default('sub-queue/'),
    EnableMsgSentLog: z.boolean().default(true),
    ListenersOfMainQueue: count(1_000).default(1),
    SendersPerChannel: count(10_000).default(1),
    MaxSendersPerChannel: count(10_000).default(10),
    SendersPerRetryChannel: count(10_000).default(1),
    MaxSendersPerRetryChannel: count(10_000).default(10),
    IntervalOfSendingForSendRoutine: count().default(0),
    MaxMessageProcessTime: count(3_600_000).default(30_000),
    DefaultMaxMessageProcessTime: count(3_600_000).default(5_000),
    CoeOfIntervalForRetrySendingMsg: count(86_400).default(10),
    MaxRetryTimesOfSendingMessage: count(1_000).default(10),
    MsgQueueFaultToleranceListNamePrefix: z
      .string()
      .min(1)
      .default('mec_list_of_msg_for_restore_to_queue_server:'),
    RunAtBench: z.boolean().default(false),
    /**
     * The original's RPC listen address (control panels: parameters, ClearDataCache, SetDefaultAlarm, stats…).
     * The protocol has no authentication, so the default (key absent) is loopback only; set
     * `ListenAddr = "0.0.0.0:5601"` as the original's sample config did to serve a remote panel, `""` turns it off.
     */
    ListenAddr: listenAddr.default('127.0.0.1:5601'),
    /** Ours: the REST control API and `/metrics`. `""` turns it off. Non-loopback needs `ControlToken`. */
    ControlListenAddr: listenAddr.default('127.0.0.1:5602'),
    /** Ours: bearer token of the REST control API (at least 16 characters); without it loopback clients only. */
    ControlToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Ours: extra `Host` names (`name` or `name:port`) the REST API answers to besides loopback ones. */
    ControlHosts: z.array(z.string().min(1)).default([]),
    /** Ours: serve `/metrics` without the token (still only under loopback names or `ControlHosts`). */
    ControlPublicMetrics: z.boolean().default(false),
    /** Ours: alerts are also POSTed as JSON here (and the default receiver is reached through it). */
    AlertWebhookUrl: z.string().url().optional(),
    /** The original's e-mail alerter; only `Gateway = "sendmail://[/path/to/sendmail]"` is supported. */
    AlerterEmail: z
      .object({ Gateway: z.string().default(''), From: z.string().optional() })
      .loose()
      .optional(),
    /** The original's SMS alerter (form POST to `Gateway`). */
    AlerterSms: z
      .object({
        Gateway: z.string().default(''),
        User: z.string().optional(),
        Password: z.string().optional(),
        PostFieldsMap: z.record(z.string(), z.string()).optional(),
        AckStr: z.string().optional(),
      })
      .loose()
      .optional(),
    /** Ours: where subscriptions live, `mysql` (needs [Database]) or `redis`. Default: mysql when [Database] is set. */
    SubscriptionSource: z.enum(['mysql', 'redis']).optional(),
    /** Ours: allow-list narrowing push destinations (core `parseAllowedDestinations` grammar). */
    AllowedDestinations: z.array(z.string().min(1)).default([]),
    /** Ours: prefix of the gateway's own Redis keys. */
    RedisKeyPrefix: z.string().default('medispatcher:'),
    Redis: z
      .object({
        Addr: z.string().default('127.0.0.1:6379'),
        DbIndex: count(10_000).default(0),
        Password: z.string().optional(),
      })
      .loose()
      .default({ Addr: '127.0.0.1:6379', DbIndex: 0 }),
    Database: z
      .object({
        Host: z.string().default('127.0.0.1'),
        Port: count(65_535).default(3306),
        User: z.string().default('root'),
        Password: z.string().default(''),
        DbName: z.string().min(1),
        MaxConns: count(1_000).default(10),
      })
      .loose()
      .optional(),
  })
  .loose();

export type MedispatcherFile = z.infer<typeof fileSchema>;

export interface MedispatcherConfig {
  readonly configFile: string;
  readonly file: MedispatcherFile;
  readonly subscriptionSource: 'mysql' | 'redis';
  /** The whole TOML document, for the parts other components read. */
  readonly raw: Record<string, unknown>;
}

export type ParsedArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly config: MedispatcherConfig };

/** Parses argv (without node and script) and reads the config file. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help' || arg === '-help') return { kind: 'help' };
    if (arg === '-v' || arg === '--version' || arg === '-version') return { kind: 'version' };
    if (arg === '-f' || arg === '--config' || arg === '-config') {
      const value = argv[i + 1];
      if (value === undefined) throw new ConfigError(`${arg}: needs a file name`);
      file = value;
      i++;
      continue;
    }
    if (arg.startsWith('-')) throw new ConfigError(`${arg}: unknown option (see --help)`);
    if (file !== undefined) throw new ConfigError(`${arg}: only one config file can be given`);
    file = arg;
  }
  if (file === undefined)
    throw new ConfigError('no config file given (medispatcher /path/to/medispatcher.toml)');
  return { kind: 'run', config: readConfig(file) };
}

/** Reads and validates one TOML file. */
export function readConfig(path: string): MedispatcherConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${(err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${path}: not valid TOML: ${(err as Error).message}`);
  }
  return fromToml(raw, path);
}

/** Validates a parsed TOML document. */
export function fromToml(raw: Record<string, unknown>, path = '(inline)'): MedispatcherConfig {
  const result = fileSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`${path}:\n${lines.join('\n')}`);
  }
  const file = result.data;
  const subscriptionSource = file.SubscriptionSource ?? (file.Database ? 'mysql' : 'redis');
  if (subscriptionSource === 'mysql' && !file.Database)
    throw new ConfigError(`${path}:\nDatabase: required when SubscriptionSource = "mysql"`);
  // Without a token the REST API is for local operators only: refuse to expose it.
  if (
    file.ControlListenAddr !== '' &&
    file.ControlToken === undefined &&
    !LOOPBACK.test(splitListenAddr(file.ControlListenAddr).host)
  )
    throw new ConfigError(
      `${path}:\nControlListenAddr: a non-loopback address needs ControlToken (or use 127.0.0.1)`,
    );
  return { configFile: path, file, subscriptionSource, raw };
}
