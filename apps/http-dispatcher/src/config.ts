/**
 * Configuration of the http-dispatcher binary, parsed once at the edge from env and flags with zod.
 * Flags win over env. Errors name the setting: `LISTEN: expected host:port …`.
 */
import { z } from 'zod';

export interface AppConfig {
  /** Address to listen on, `host:port` or `:port` (all interfaces). */
  listen: { host: string | undefined; port: number };
  /** Directory of the durable log. */
  transactionLog: string;
}

const listenSchema = z.string().transform((value, ctx) => {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected host:port or :port, got "${value}"` });
    return z.NEVER;
  }
  const host = m[1] === '' ? undefined : (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
});

const schema = z.object({
  LISTEN: listenSchema.prefault(':8080'),
  TRANSACTION_LOG: z.string().min(1, 'must not be empty').default('data/transaction-log'),
});

const FLAGS: Record<string, keyof z.input<typeof schema>> = {
  '--listen': 'LISTEN',
  '--transaction-log': 'TRANSACTION_LOG',
};

export const HELP = `Usage: http-dispatcher [options]

Durable store-and-forward HTTP dispatcher (foundation build: durable log + health endpoint).

Options (each also read from the environment variable in brackets):
  --listen <host:port>         address to listen on [LISTEN] (default :8080)
  --transaction-log <dir>      directory of the durable log [TRANSACTION_LOG] (default data/transaction-log)
  -h, --help                   show this help
`;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type ParsedArgs = { help: true } | { help: false; config: AppConfig };

export function parseConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): ParsedArgs {
  const input: Record<string, string> = {};
  for (const key of Object.values(FLAGS)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return { help: true };
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const key = FLAGS[flag];
    if (!key) throw new ConfigError(`unknown option ${flag} (see --help)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`${flag}: missing value`);
    input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'),
    );
  }
  return { help: false, config: { listen: parsed.data.LISTEN, transactionLog: parsed.data.TRANSACTION_LOG } };
}
