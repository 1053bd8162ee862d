import type { BeanstalkClientApi } from '../beanstalk/beanstalk-types.js';
import { PushError } from '../errors.js';
import { DEFAULT_CHANNEL_PREFIX } from '../job/tube-names.js';

/** Options of {@link kickBuried}. */
export interface KickBuriedOptions {
  /** The main tube (`NameOfMainQueue`). */
  mainTube: string;
  /** Prefix of channel tube names. @defaultValue `'sub-queue/'` */
  channelPrefix?: string;
  /** Only report what would be kicked. @defaultValue `false` */
  dryRun?: boolean;
  /**
   * Also kick tubes that a running gateway watches. The original amender skipped them; buried jobs of a
   * watched tube are normally the gateway's own business. @defaultValue `false`
   */
  force?: boolean;
  signal?: AbortSignal;
}

/** One line of the report. */
export interface KickReportRow {
  server: string;
  tube: string;
  /** Buried jobs found. */
  buried: number;
  /** Jobs moved to ready (0 on a dry run). */
  kicked: number;
  /** Why the tube was left alone. */
  skipped?: 'watched' | 'dry-run';
}

/** The whole report; `failedServers` lists servers that could not be read (with the reason). */
export interface KickReport {
  rows: KickReportRow[];
  failedServers: { server: string; error: string }[];
}

/** Whether a tube belongs to the gateway: the main tube, channel tubes and their `/FAIL` retry tubes (not `/DEAD`). */
export function isGatewayTube(tube: string, mainTube: string, prefix = DEFAULT_CHANNEL_PREFIX): boolean {
  if (tube === mainTube) return true;
  if (tube.endsWith('/DEAD')) return false;
  const at = tube.indexOf(`/${prefix}`);
  if (at <= 0) return false;
  const rest = tube.slice(at + prefix.length + 1);
  return /^\d+(\/FAIL)?$/.test(rest);
}

/**
 * Kicks buried jobs of the gateway's tubes back to ready on every server (the original `amender` tool): for
 * each tube, `kick` until `stats-tube` shows none buried or a kick moves nothing. Dead-letter tubes are never
 * kicked: their jobs are redriven through the control API.
 */
export async function kickBuried(
  clients: readonly BeanstalkClientApi[],
  options: KickBuriedOptions,
): Promise<KickReport> {
  const report: KickReport = { rows: [], failedServers: [] };
  const call = options.signal ? { signal: options.signal } : {};
  for (const client of clients) {
    try {
      const tubes = (await client.listTubes(call)).filter((t) =>
        isGatewayTube(t, options.mainTube, options.channelPrefix),
      );
      for (const tube of tubes.sort()) {
        const stats = await client.statsTube(tube, call);
        const buried = stats ? stats['current-jobs-buried'] : 0;
        if (buried === 0) continue;
        const row: KickReportRow = { server: client.address, tube, buried, kicked: 0 };
        report.rows.push(row);
        if (options.dryRun) {
          row.skipped = 'dry-run';
          continue;
        }
        if (!options.force && stats && stats['current-watching'] > 0) {
          row.skipped = 'watched';
          continue;
        }
        for (let left = buried; left > 0; ) {
          const n = await client.kick(left, { tube, ...call });
          row.kicked += n;
          if (n === 0) break;
          const after = await client.statsTube(tube, call);
          left = after ? after['current-jobs-buried'] : 0;
        }
      }
    } catch (err) {
      if (options.signal?.aborted) throw err;
      report.failedServers.push({
        server: client.address,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return report;
}

/** Throws `DSP_PUSH_AMENDER_FAILED` when a server could not be read. */
export function assertKickReportComplete(report: KickReport): void {
  if (report.failedServers.length > 0) {
    throw new PushError(
      'DSP_PUSH_AMENDER_FAILED',
      `beanstalkd not reachable: ${report.failedServers.map((f) => `${f.server} (${f.error})`).join(', ')}`,
    );
  }
}
