/**
 * Configuration of the dispatchd binary, parsed once at the edge with zod. Sources, lowest to highest:
 * built-in defaults, the JSON file named by `-config-file`, `DISPATCHD_*` environment variables, then
 * command-line flags. Flags keep dispatchd's Go names and syntax (`-amqp-port 5673`, `-amqp-port=5673`,
 * `--amqp-port 5673`, a bare `-strict-mode`). Every error names the setting and where it came from:
 * `-amqp-port: must be a whole number, got "abc"`.
 */
import { readFileSync, statSync } from 'node:fs';
import {
  type BrokerServerOptions,
  type BrokerUserOptions,
  HASHING_ALGORITHMS,
  isValidHash,
  type Permission,
  type TlsListenerOptions,
} from '@dispatcher/amqp-broker';
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The settings that flags and environment variables can set (the config file can set them too). */
export const SETTINGS = [
  [
    'amqp-port',
    'DISPATCHD_AMQP_PORT',
    'port for AMQP 0-9-1 clients, IPv4 and IPv6; 0 picks a free port',
    '5672',
  ],
  [
    'admin-port',
    'DISPATCHD_ADMIN_PORT',
    'port for the management HTTP API, metrics and web admin page; 0 picks a free port, off disables it',
    '8080',
  ],
  ['config-file', 'DISPATCHD_CONFIG_FILE', 'JSON config file (shape below); default: none', ''],
  [
    'persist-dir',
    'DISPATCHD_PERSIST_DIR',
    'directory for durable exchanges, queues, bindings and persistent messages (recovered at start-up)',
    '/data/dispatchd/',
  ],
  [
    'strict-mode',
    'DISPATCHD_STRICT_MODE',
    "obey the AMQP spec's field-table type codes instead of RabbitMQ's",
    'false',
  ],
  ['log-level', 'LOG_LEVEL', 'trace, debug, info, warn, error or fatal', 'info'],
] as const;

type SettingName = (typeof SETTINGS)[number][0];

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults of the settings (the Go dispatchd's). */
export const DISPATCHD_DEFAULTS = {
  amqpPort: 5672,
  adminPort: 8080,
  persistDir: '/data/dispatchd/',
  strictMode: false,
  logLevel: 'info' as LogLevel,
  /** `::` with dual-stack sockets accepts IPv4 (as ::ffff:a.b.c.d) and IPv6 clients on one port. */
  host: '::',
} as const;

/** The management listener's settings (see `AdminServerOptions`). */
export interface AdminConfig {
  /** Port; 0 picks a free one. */
  port: number;
  /** Host names it is reached under besides loopback ones (Host check, 421 otherwise). */
  servedHosts: string[];
  /** HTTPS certificate, key and optional CA, PEM file contents. */
  tls: { cert: Buffer; key: Buffer; ca?: Buffer } | undefined;
  /** Separate Prometheus listener's port (RabbitMQ's 15692); undefined: none. */
  prometheusPort: number | undefined;
}

export interface DispatchdConfig {
  /** Options for `BrokerServer`, except the logger and the listen address. */
  broker: Omit<BrokerServerOptions, 'logger' | 'host'> & { port: number };
  /** Address to listen on; `::` (dual-stack: IPv4 and IPv6). */
  host: string;
  /** The management listener; undefined when `-admin-port off`. */
  admin: AdminConfig | undefined;
  /** Durable state (definitions, persistent messages) and the disk alarm's file system. */
  persistDir: string;
  configFile: string | undefined;
  logLevel: LogLevel;
  /** Things the operator should fix that do not stop the start (logged as warnings). */
  warnings: string[];
}

export type ParsedArgs = { help: true } | { help: false; config: DispatchdConfig };

// Values from flags and environment variables arrive as strings.
const portString = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a whole number')
  .transform(Number)
  .refine((n) => n <= 65535, 'must be a port number, 0..65535');

/** A port, or `off` (the listener is disabled). */
const portOrOff = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(\d+|off)$/, 'must be a whole number or off')
  .transform((v) => (v === 'off' ? ('off' as const) : Number(v)))
  .refine((n) => n === 'off' || n <= 65535, 'must be a port number, 0..65535, or off');

const boolString = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 't', 'f'].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 't'].includes(v));

const path = z.string().trim().min(1, 'must not be empty');

const stringSettings = z
  .object({
    'amqp-port': portString.optional(),
    'admin-port': portOrOff.optional(),
    'config-file': path.optional(),
    'persist-dir': path.optional(),
    'strict-mode': boolString.optional(),
    'log-level': z.enum(LOG_LEVELS).optional(),
  })
  .strict();

const port = z.number().int('must be a whole number').min(0).max(65535);
const count = z.number().int('must be a whole number').min(0).max(Number.MAX_SAFE_INTEGER);

/** A regular expression RabbitMQ-style (validated by compiling it). */
const regex = z.string().refine((v) => {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

const permission = z.object({ configure: regex, write: regex, read: regex }).strict();

const user = z
  .object({
    password: z.string().min(1, 'must not be empty').optional(),
    password_bcrypt_base64: z.string().optional(),
    password_hash: z.string().optional(),
    hashing_algorithm: z.enum(HASHING_ALGORITHMS).optional(),
    tags: z.array(z.string().min(1, 'must not be empty')).optional(),
    /** vhost → permissions. */
    permissions: z.record(z.string().min(1, 'vhost names must not be empty'), permission).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    const given = (['password', 'password_bcrypt_base64', 'password_hash'] as const).filter(
      (k) => u[k] !== undefined,
    );
    if (given.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['password_bcrypt_base64'],
        message: 'is required (or password_hash + hashing_algorithm; plain "password" is discouraged)',
      });
    } else if (given.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [given[1] as string],
        message: `give only one of ${given.join(', ')}`,
      });
    }
    if (
      u.password_bcrypt_base64 !== undefined &&
      !isValidHash(bcryptFromBase64(u.password_bcrypt_base64), 'bcrypt')
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['password_bcrypt_base64'],
        message: 'must be the base64 of a bcrypt hash ($2a$/$2b$/$2y$…; see dispatchd hash-password)',
      });
    }
    if (u.password_hash !== undefined) {
      if (u.hashing_algorithm === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['hashing_algorithm'],
          message: 'is required with password_hash',
        });
      } else if (!isValidHash(u.password_hash, u.hashing_algorithm)) {
        ctx.addIssue({
          code: 'custom',
          path: ['password_hash'],
          message: `is not a ${u.hashing_algorithm} hash (base64 of salt + digest, as RabbitMQ exports it)`,
        });
      }
    } else if (u.hashing_algorithm !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['hashing_algorithm'], message: 'only goes with password_hash' });
    }
  });

type UserConfig = z.infer<typeof user>;

function bcryptFromBase64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}

const tlsSchema = z
  .object({
    'cert-file': path,
    'key-file': path,
    'ca-file': path.optional(),
    'verify-peer': z.boolean().optional(),
    'fail-if-no-peer-cert': z.boolean().optional(),
  })
  .strict();

/** The JSON config file. Keys are dispatchd's flag names (kebab-case) plus broker tuning. */
const fileSchema = z
  .object({
    'amqp-port': port.optional(),
    'admin-port': z.union([port, z.literal('off')]).optional(),
    'admin-hosts': z.array(z.string().trim().min(1, 'must not be empty')).optional(),
    'admin-tls': z
      .object({ 'cert-file': path, 'key-file': path, 'ca-file': path.optional() })
      .strict()
      .optional(),
    'prometheus-port': port.optional(),
    'persist-dir': path.optional(),
    'strict-mode': z.boolean().optional(),
    'log-level': z.enum(LOG_LEVELS).optional(),
    users: z
      .record(z.string().min(1, 'user names must not be empty'), user)
      .refine((u) => Object.keys(u).length > 0, 'must name at least one user')
      .optional(),
    vhosts: z.array(z.string().min(1, 'must not be empty')).min(1, 'must name at least one vhost').optional(),
    'loopback-users': z.array(z.string().min(1, 'must not be empty')).optional(),
    tls: tlsSchema.optional(),
    'amqps-port': port.optional(),
    'heartbeat-seconds': z.number().int().min(0).max(65535).optional(),
    'frame-max-bytes': z.number().int().min(4096).max(0xffff_ffff).optional(),
    'channel-max': z.number().int().min(1).max(65535).optional(),
    'max-message-bytes': count.optional(),
    'memory-high-watermark': z
      .number()
      .min(0, 'must be a fraction of the memory, 0..1')
      .max(1, 'must be a fraction of the memory, 0..1 (for bytes use memory-high-watermark-bytes)')
      .optional(),
    'memory-high-watermark-bytes': count.optional(),
    'memory-check-interval-ms': count.optional(),
    'disk-free-limit-bytes': count.optional(),
    'disk-check-interval-ms': count.optional(),
    'max-connections': count.optional(),
    'max-queues-per-vhost': count.optional(),
    product: z.string().trim().min(1, 'must not be empty').max(255).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f['amqps-port'] !== undefined && f.tls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['amqps-port'], message: 'needs "tls" (cert-file and key-file)' });
    }
    const vhosts = new Set(f.vhosts ?? ['/']);
    for (const [name, u] of Object.entries(f.users ?? {})) {
      for (const vhost of Object.keys(u.permissions ?? {})) {
        if (!vhosts.has(vhost))
          ctx.addIssue({
            code: 'custom',
            path: ['users', name, 'permissions', vhost],
            message: `vhost '${vhost}' is not in "vhosts"`,
          });
      }
    }
    if (f['memory-high-watermark'] !== undefined && f['memory-high-watermark-bytes'] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['memory-high-watermark-bytes'],
        message: 'give memory-high-watermark (a fraction) or memory-high-watermark-bytes, not both',
      });
    }
  });

/** Config file keys that map one to one onto a `BrokerServerOptions` option. */
const BROKER_KEYS = {
  'heartbeat-seconds': 'heartbeatSeconds',
  'frame-max-bytes': 'frameMaxBytes',
  'channel-max': 'channelMax',
  'max-message-bytes': 'maxMessageBytes',
  'memory-check-interval-ms': 'memoryCheckIntervalMs',
  'disk-free-limit-bytes': 'diskFreeLimitBytes',
  'disk-check-interval-ms': 'diskCheckIntervalMs',
  'max-connections': 'maxConnections',
  'max-queues-per-vhost': 'maxQueuesPerVhost',
  product: 'product',
} as const satisfies Record<string, keyof BrokerServerOptions>;

type FileConfig = z.infer<typeof fileSchema>;

export const HELP = `Usage: dispatchd [options]

An AMQP 0-9-1 message broker (RabbitMQ-compatible for real clients), the TypeScript rebuild of dispatchd.
It listens on IPv4 and IPv6. Durable exchanges, queues and bindings and persistent messages in durable
queues are kept in -persist-dir and survive a restart (publisher confirms wait until they are on disk).

Options (Go style: -amqp-port 5673, -amqp-port=5673 and --amqp-port 5673 all work; a bare -strict-mode
means true). Each can also come from the environment variable in brackets; flags win over the
environment, which wins over the config file:
${SETTINGS.map(([flag, env, help, def]) => `  -${flag.padEnd(13)} [${env}] ${help}${def ? ` (default ${def})` : ''}`).join('\n')}
  -h, -help      show this help

Config file (JSON, every key optional, unknown keys and wrong types are errors):
  {
    "amqp-port": 5672, "admin-port": 8080, "persist-dir": "/data/dispatchd/", "strict-mode": false,
    "log-level": "info",
    "admin-hosts": ["broker.example.com"],   (names the admin listener is reached under besides
                                              localhost/127.x/[::1]; other Host headers get 421)
    "admin-tls": { "cert-file": "cert.pem", "key-file": "key.pem", "ca-file": "ca.pem" },   (HTTPS)
    "prometheus-port": 15692,   (a separate metrics-only listener; default: none)
    "users": {                       (replaces the default guest/guest administrator)
      "alice": {
        "password_bcrypt_base64": "JDJh…",   (dispatchd hash-password; or "password_hash" +
                                               "hashing_algorithm": "rabbit_password_hashing_sha256"
                                               as RabbitMQ exports them; plain "password" works but warns)
        "tags": ["administrator"],           (RabbitMQ's: administrator, monitoring, management,
                                               policymaker, impersonator)
        "permissions": { "/": { "configure": ".*", "write": ".*", "read": ".*" } }
      }                                      (when no user has "permissions", every user gets .* on
    },                                        every vhost, as before permissions existed)
    "vhosts": ["/"],
    "loopback-users": ["guest"],   (may log in from loopback addresses only; [] lifts it)
    "tls": { "cert-file": "server.pem", "key-file": "server.key", "ca-file": "ca.pem",
             "verify-peer": false, "fail-if-no-peer-cert": false },
    "amqps-port": 5671,            (AMQP over TLS, beside the plain port; needs "tls")
    "heartbeat-seconds": 60, "frame-max-bytes": 131072, "channel-max": 2047,
    "max-message-bytes": 134217728,
    "memory-high-watermark": 0.4,   (fraction of the memory, or the cgroup limit; or instead
    "memory-high-watermark-bytes": 2147483648,   an absolute number of bytes; 0 turns it off)
    "memory-check-interval-ms": 1000,
    "disk-free-limit-bytes": 50000000,   (free space on -persist-dir's file system)
    "disk-check-interval-ms": 1000,
    "max-connections": 0, "max-queues-per-vhost": 0,   (0: no limit)
    "product": "RabbitMQ"   (name advertised to clients; ours is in the "information" property)
  }
While memory is above its watermark or disk below its limit, publishing connections are blocked
(connection.blocked) until the alarm clears; consumers keep going.

The management listener (-admin-port) speaks RabbitMQ 3.10's management HTTP API (/api/..., HTTP Basic
with the broker's users), serves Prometheus metrics at /metrics and the web admin page at /.

On SIGTERM/SIGINT dispatchd stops accepting, closes client connections with 320 CONNECTION_FORCED, flushes
the store, then closes the management listener.

With -persist-dir, users, permissions and vhosts are stored there at the first start; from then on the
stored ones win over the config file (the config is the initial state).

Commands:
  dispatchd hash-password [--algorithm bcrypt|rabbit_password_hashing_sha256|…]
      reads a password from standard input (or prompts) and prints its hash: password_bcrypt_base64
      by default, or a password_hash for the given algorithm
  dispatchd add-user NAME [--tags administrator,monitoring] [--vhost /] [--configure .*] [--write .*]
                          [--read .*]
      reads the password from standard input (or prompts) and prints the "users" entry to paste
      into the config file (JSON)

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for invalid options or config, 1 otherwise.
`;

const FLAGS = new Map<string, SettingName>(SETTINGS.map(([flag]) => [flag, flag]));
const BOOLEAN_FLAGS = new Set<SettingName>(['strict-mode']);
const HELP_FLAGS = new Set(['-h', '-help', '--help', '--h']);

/** Splits Go-style command-line flags into setting name → raw string value. */
function readFlags(argv: readonly string[]): Partial<Record<SettingName, string>> | 'help' {
  const out: Partial<Record<SettingName, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (HELP_FLAGS.has(arg)) return 'help';
    if (!/^--?[^-]/.test(arg)) throw new ConfigError(`unexpected argument "${arg}" (see -help)`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const setting = FLAGS.get(name);
    if (setting === undefined) throw new ConfigError(`-${name}: unknown option (see -help)`);
    let value: string | undefined;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (BOOLEAN_FLAGS.has(setting)) value = 'true';
    else value = argv[++i];
    if (value === undefined) throw new ConfigError(`-${name}: missing value`);
    out[setting] = value;
  }
  return out;
}

function issues(error: z.ZodError, name: (key: string) => string, input: Record<string, unknown>): string {
  return error.issues
    .map((issue) => {
      const key = String(issue.path[0] ?? '');
      if (issue.code === 'unrecognized_keys')
        return issue.keys.map((k) => `${name(k)}: unknown setting`).join('\n');
      const got = input[key];
      return `${name(key)}: ${issue.message}${typeof got === 'string' ? `, got "${got}"` : ''}`;
    })
    .join('\n');
}

export function parseConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): ParsedArgs {
  const flagValues = readFlags(argv);
  if (flagValues === 'help') return { help: true };

  const envValues: Partial<Record<SettingName, string>> = {};
  for (const [flag, envName] of SETTINGS) {
    const value = env[envName];
    if (value !== undefined && value !== '') envValues[flag] = value;
  }
  const envName = (key: string) => SETTINGS.find(([flag]) => flag === key)?.[1] ?? key;
  const fromEnv = stringSettings.safeParse(envValues);
  if (!fromEnv.success) throw new ConfigError(issues(fromEnv.error, envName, envValues));
  const fromFlags = stringSettings.safeParse(flagValues);
  if (!fromFlags.success) throw new ConfigError(issues(fromFlags.error, (k) => `-${k}`, flagValues));

  const configFile = fromFlags.data['config-file'] ?? fromEnv.data['config-file'];
  const file: FileConfig = configFile === undefined ? {} : readConfigFile(configFile);
  const merged = { ...file, ...fromEnv.data, ...fromFlags.data };

  const amqpPort = merged['amqp-port'] ?? DISPATCHD_DEFAULTS.amqpPort;
  const adminPort = merged['admin-port'] ?? DISPATCHD_DEFAULTS.adminPort;
  if (amqpPort !== 0 && adminPort !== 'off' && amqpPort === adminPort) {
    throw new ConfigError(`-admin-port: must differ from -amqp-port (both are ${amqpPort})`);
  }
  const persistDir = merged['persist-dir'] ?? DISPATCHD_DEFAULTS.persistDir;
  checkPersistDir(persistDir);

  const warnings: string[] = [];
  const broker: DispatchdConfig['broker'] = {
    port: amqpPort,
    strictFieldTypes: merged['strict-mode'] ?? DISPATCHD_DEFAULTS.strictMode,
    ...(file.users === undefined ? {} : usersOptions(file.users, warnings)),
    ...(file.vhosts === undefined ? {} : { vhosts: file.vhosts }),
    ...(file['loopback-users'] === undefined ? {} : { loopbackUsers: file['loopback-users'] }),
    ...(file.tls === undefined ? {} : { tls: tlsOptions(file.tls, file['amqps-port']) }),
    ...memoryHighWatermark(file),
  };
  for (const [key, option] of Object.entries(BROKER_KEYS) as [keyof typeof BROKER_KEYS, string][]) {
    const value = file[key];
    if (value !== undefined) (broker as Record<string, unknown>)[option] = value;
  }
  return {
    help: false,
    config: {
      broker,
      host: DISPATCHD_DEFAULTS.host,
      admin: adminPort === 'off' ? undefined : adminConfig(file, adminPort, configFile),
      persistDir,
      configFile,
      logLevel: merged['log-level'] ?? DISPATCHD_DEFAULTS.logLevel,
      warnings,
    },
  };
}

function adminConfig(file: FileConfig, port: number, configFile: string | undefined): AdminConfig {
  const tls = file['admin-tls'];
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(
        `-config-file ${configFile}: admin-tls.${key}: cannot read ${path}: ${(err as Error).message}`,
      );
    }
  };
  return {
    port,
    servedHosts: file['admin-hosts'] ?? [],
    tls:
      tls === undefined
        ? undefined
        : {
            cert: read('cert-file', tls['cert-file']),
            key: read('key-file', tls['key-file']),
            ...(tls['ca-file'] === undefined ? {} : { ca: read('ca-file', tls['ca-file']) }),
          },
    prometheusPort: file['prometheus-port'],
  };
}

/** The config's users as broker options; permissions only when some user names them. */
function usersOptions(
  users: Record<string, UserConfig>,
  warnings: string[],
): Pick<BrokerServerOptions, 'users' | 'permissions'> {
  const out: Record<string, BrokerUserOptions> = {};
  const permissions: Permission[] = [];
  let anyPermissions = false;
  for (const [name, u] of Object.entries(users)) {
    const tags = u.tags ?? [];
    if (u.password_bcrypt_base64 !== undefined) {
      out[name] = {
        passwordHash: bcryptFromBase64(u.password_bcrypt_base64),
        hashingAlgorithm: 'bcrypt',
        tags,
      };
    } else if (u.password_hash !== undefined && u.hashing_algorithm !== undefined) {
      out[name] = { passwordHash: u.password_hash, hashingAlgorithm: u.hashing_algorithm, tags };
    } else {
      warnings.push(
        `users.${name}.password: a plain-text password on disk is discouraged; use password_bcrypt_base64 (dispatchd hash-password)`,
      );
      out[name] = { password: u.password ?? '', tags };
    }
    if (u.permissions !== undefined) anyPermissions = true;
    for (const [vhost, p] of Object.entries(u.permissions ?? {}))
      permissions.push({ user: name, vhost, ...p });
  }
  return anyPermissions ? { users: out, permissions } : { users: out };
}

function tlsOptions(tls: z.infer<typeof tlsSchema>, port: number | undefined): TlsListenerOptions {
  const read = (key: 'cert-file' | 'key-file' | 'ca-file', file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`tls.${key}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const ca = tls['ca-file'];
  return {
    cert: read('cert-file', tls['cert-file']),
    key: read('key-file', tls['key-file']),
    ...(ca === undefined ? {} : { ca: read('ca-file', ca) }),
    ...(port === undefined ? {} : { port }),
    verifyPeer: tls['verify-peer'] ?? false,
    failIfNoPeerCert: tls['fail-if-no-peer-cert'] ?? false,
  };
}

function memoryHighWatermark(file: FileConfig): Pick<BrokerServerOptions, 'memoryHighWatermark'> {
  const fraction = file['memory-high-watermark'];
  const bytes = file['memory-high-watermark-bytes'];
  if (fraction !== undefined) return { memoryHighWatermark: { fraction } };
  if (bytes !== undefined) return { memoryHighWatermark: { bytes } };
  return {};
}

function readConfigFile(file: string): FileConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`-config-file: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues
        .map((i) => {
          if (i.code === 'unrecognized_keys') {
            const where = i.path.length > 0 ? `${i.path.join('.')}.` : '';
            return i.keys.map((k) => `-config-file ${file}: ${where}${k}: unknown setting`).join('\n');
          }
          return `-config-file ${file}: ${i.path.join('.') || '(root)'}: ${i.message}`;
        })
        .join('\n'),
    );
  }
  return parsed.data;
}

/** The directory need not exist yet (nothing is written to it), but must not be something else. */
function checkPersistDir(dir: string): void {
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (stat !== undefined && !stat.isDirectory()) {
    throw new ConfigError(`-persist-dir: ${dir} exists and is not a directory`);
  }
}
