/**
 * Operator commands that make password hashes without a running broker:
 *
 *   dispatchd hash-password [--algorithm A]   password (stdin or prompt) → its hash
 *   dispatchd add-user NAME [--tags t1,t2] [--vhost V] [--configure RE] [--write RE] [--read RE]
 *                                             password → the config file's `users` entry (JSON)
 *
 * They print config rather than change a persist directory: a running broker owns its definitions file
 * and would overwrite it, and config files are what operators keep in version control. The plain
 * password never appears in the output.
 */
import { createInterface } from 'node:readline';
import { HASHING_ALGORITHMS, type HashingAlgorithm, hashPassword } from '@dispatcher/amqp-broker';
import { z } from 'zod';
import { ConfigError } from './config.js';

export const USER_COMMANDS = ['hash-password', 'add-user'] as const;
export type UserCommand = (typeof USER_COMMANDS)[number];

export function isUserCommand(arg: string | undefined): arg is UserCommand {
  return (USER_COMMANDS as readonly (string | undefined)[]).includes(arg);
}

const regex = z.string().refine((v) => {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

const hashArgs = z.object({ algorithm: z.enum(HASHING_ALGORITHMS).default('bcrypt') }).strict();
const addUserArgs = z
  .object({
    name: z.string().min(1, 'must not be empty'),
    algorithm: z.enum(HASHING_ALGORITHMS).default('bcrypt'),
    tags: z
      .string()
      .default('')
      .transform((t) =>
        t
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      ),
    vhost: z.string().min(1, 'must not be empty').default('/'),
    configure: regex.default('.*'),
    write: regex.default('.*'),
    read: regex.default('.*'),
  })
  .strict();

/** `--key value` / `--key=value` pairs and the positional arguments. */
function splitArgs(argv: readonly string[]): { flags: Record<string, string>; positional: string[] } {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`--${key}: missing value`);
    flags[key] = value;
  }
  return { flags, positional };
}

function parse<T>(schema: z.ZodType<T>, input: Record<string, unknown>): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues
      .map((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => `--${k}: unknown option`).join('\n')
          : `${i.path[0] === 'name' ? 'NAME' : `--${String(i.path[0])}`}: ${i.message}`,
      )
      .join('\n'),
  );
}

/**
 * The password: typed at a prompt on a terminal (raw mode, nothing echoed), else the first line of
 * standard input (piped, e.g. from a secrets manager).
 */
async function readPassword(input: NodeJS.ReadStream, prompt: NodeJS.WriteStream): Promise<string> {
  if (input.isTTY && typeof input.setRawMode === 'function') return readHidden(input, prompt);
  const rl = createInterface({ input, terminal: false });
  try {
    for await (const line of rl) return line.replace(/\r$/, '');
    return '';
  } finally {
    rl.close();
  }
}

/**
 * Reads one line from a terminal in raw mode, so the terminal echoes nothing. Enter or Ctrl-D ends it,
 * Backspace and Ctrl-U edit it, Ctrl-C cancels (raw mode turns it into a byte, not SIGINT).
 */
function readHidden(input: NodeJS.ReadStream, prompt: NodeJS.WriteStream): Promise<string> {
  prompt.write('Password (not shown): ');
  return new Promise((resolve, reject) => {
    const chars: string[] = [];
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      prompt.write('\n');
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(chars.join(''));
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new ConfigError('password: cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') chars.pop();
        else if (ch === '\u0015') chars.length = 0;
        else if (ch >= ' ') chars.push(ch);
      }
    };
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

function hashFor(password: string, algorithm: HashingAlgorithm): Record<string, string> {
  if (algorithm === 'bcrypt')
    return { password_bcrypt_base64: Buffer.from(hashPassword(password, 'bcrypt')).toString('base64') };
  return { password_hash: hashPassword(password, algorithm), hashing_algorithm: algorithm };
}

/** Runs a command; resolves with what to print on standard output. */
export async function runUserCommand(
  command: UserCommand,
  argv: readonly string[],
  io: { input: NodeJS.ReadStream; prompt: NodeJS.WriteStream } = {
    input: process.stdin,
    prompt: process.stderr,
  },
): Promise<string> {
  const { flags, positional } = splitArgs(argv);
  switch (command) {
    case 'hash-password': {
      if (positional.length > 0) throw new ConfigError(`unexpected argument "${positional[0]}"`);
      const { algorithm } = parse(hashArgs, flags);
      const password = await readPassword(io.input, io.prompt);
      if (password === '') throw new ConfigError('password: must not be empty');
      const out = hashFor(password, algorithm);
      return `${algorithm === 'bcrypt' ? out.password_bcrypt_base64 : out.password_hash}\n`;
    }
    case 'add-user': {
      if (positional.length !== 1) throw new ConfigError('NAME: give exactly one user name');
      const a = parse(addUserArgs, { ...flags, name: positional[0] });
      const password = await readPassword(io.input, io.prompt);
      if (password === '') throw new ConfigError('password: must not be empty');
      const entry = {
        [a.name]: {
          ...hashFor(password, a.algorithm),
          tags: a.tags,
          permissions: { [a.vhost]: { configure: a.configure, write: a.write, read: a.read } },
        },
      };
      return `${JSON.stringify(entry, null, 2)}\n`;
    }
    default: {
      const unknown: never = command;
      throw new ConfigError(`unknown command ${String(unknown)}`);
    }
  }
}
