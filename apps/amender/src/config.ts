import { readFile } from 'node:fs/promises';
import { DEFAULT_MAIN_TUBE } from '@dispatcher/push-gateway';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';

/** What amender reads from medispatcher's TOML config (other keys are ignored). */
export interface AmenderConfig {
  /** beanstalkd servers (`QueueServerAddr`, comma separated). */
  servers: string[];
  /** `NameOfMainQueue`; the original's default when absent. */
  mainTube: string;
}

const schema = z.looseObject({
  QueueServerAddr: z.union([z.string(), z.array(z.string())]),
  NameOfMainQueue: z.string().min(1).optional(),
});

/** Reads and checks the config; errors name the file and print as `path: message`. */
export async function loadConfig(file: string): Promise<AmenderConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    throw new Error(`${file}: not valid TOML (${(err as Error).message})`);
  }
  const r = schema.safeParse(data);
  if (!r.success) {
    throw new Error(
      r.error.issues.map((i) => `${file}: ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n'),
    );
  }
  const list = Array.isArray(r.data.QueueServerAddr)
    ? r.data.QueueServerAddr
    : r.data.QueueServerAddr.split(',');
  const servers = list.map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new Error(`${file}: QueueServerAddr: no beanstalkd server listed`);
  return { servers, mainTube: r.data.NameOfMainQueue ?? DEFAULT_MAIN_TUBE };
}
