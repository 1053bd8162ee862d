/**
 * The differential harness: every scenario runs on our broker and, when reachable, on RabbitMQ; the results
 * must be equal (or equal a documented deviation), and ours may be spelled out and snapshotted, so a change
 * shows up even when RabbitMQ is away. {@link differentialRuns} does this for any kind of side (an AMQP
 * connection here, a management API client in `admin/management-suite.ts`); {@link differentialSuite} is its
 * AMQP form, each scenario on a fresh connection. A scenario that must act on the broker from outside AMQP
 * (close a connection from the server's side, see whether a queue still exists without touching it) does so
 * through `side`.
 */
import { rabbitmqCloseConnectionsNamed, rabbitmqctl } from '@dispatcher/tooling';
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, type ExpectStatic, inject, it } from 'vitest';
import type { BrokerServer, BrokerServerOptions } from '../../src/index.js';
import { withConnection } from './amqp-helpers.js';
import { rabbitTarget, startBroker, type Target } from './targets.js';

/** The broker under test, seen from outside AMQP: ours in-process, RabbitMQ through `rabbitmqctl`. */
export interface BrokerSide {
  readonly name: Target['name'];
  /** Whether `queue` exists in vhost '/', without using it (a passive declare would reset its x-expires). */
  queueExists(queue: string): Promise<boolean>;
  /** Closes the connections whose client named them `connectionName`, from the server's side; their number. */
  closeConnectionsNamed(connectionName: string, reason: string): Promise<number>;
}

export type DifferentialScenario = (ctx: {
  conn: ChannelModel;
  url: string;
  side: BrokerSide;
}) => Promise<unknown>;

function ourSide(server: BrokerServer): BrokerSide {
  return {
    name: 'dispatcher',
    queueExists: async (queue) => server.vhost()?.getQueueIfExists(queue) !== undefined,
    closeConnectionsNamed: (connectionName, reason) => server.closeConnection(connectionName, { reason }),
  };
}

const RABBIT_SIDE: BrokerSide = {
  name: 'rabbitmq',
  queueExists: async (queue) =>
    (await rabbitmqctl('list_queues', '-p', '/', 'name', '-q', '--no-table-headers'))
      .split('\n')
      .includes(queue),
  closeConnectionsNamed: rabbitmqCloseConnectionsNamed,
};

/** How {@link differentialRuns} compares and schedules, whatever the side. */
export interface DifferentialOptions {
  /**
   * Run the scenarios concurrently, each on both brokers at once; `false`: one after the other, ours
   * first. @defaultValue true
   */
  readonly concurrent?: boolean;
  /** With `concurrent: false`, run each scenario on RabbitMQ before ours. @defaultValue false */
  readonly rabbitmqFirst?: boolean;
  /** Time for starting and preparing both brokers (and for undoing it). @defaultValue the config's hookTimeout */
  readonly setupTimeoutMs?: number;
  /** Snapshot our result of every scenario (off where results carry per-run names). @defaultValue true */
  readonly snapshot?: boolean;
  /**
   * What our broker must answer, by scenario name, spelled out beside the snapshot (for scenarios whose
   * point is the answer). @defaultValue {}
   */
  readonly expected?: Readonly<Record<string, unknown>>;
  /**
   * Documented deviations: what RabbitMQ answers, by scenario name, where we answer otherwise on purpose
   * (its result is compared with this instead of ours). @defaultValue {}
   */
  readonly rabbitmqDiffers?: Readonly<Record<string, unknown>>;
}

/** The two brokers a {@link differentialRuns} drives, as scenarios see them (`S`). */
export interface DifferentialSides<S> {
  /** Starts our broker, prepared for the scenarios; `close` ends it after the last one. */
  ours(): Promise<{ side: S; close(): Promise<void> }>;
  /** RabbitMQ, prepared for the scenarios (asked only when it is reachable). */
  rabbit(): Promise<S>;
  /** Undoes the preparation of a side after the last scenario (RabbitMQ's state outlives the test). */
  cleanup?(side: S): Promise<void>;
}

/**
 * Runs every scenario on our broker and, when RabbitMQ is reachable, on RabbitMQ, and compares: ours with
 * its snapshot and `expected`, RabbitMQ's with ours or with its documented deviation.
 */
export function differentialRuns<S>(
  title: string,
  scenarios: Readonly<Record<string, (side: S) => Promise<unknown>>>,
  sides: DifferentialSides<S>,
  options: DifferentialOptions = {},
): void {
  const expected = options.expected ?? {};
  const differs = options.rabbitmqDiffers ?? {};
  const compare = (check: ExpectStatic, name: string, mine: unknown, theirs: unknown, rabbitUp: boolean) => {
    if (options.snapshot !== false) check(mine).toMatchSnapshot();
    if (Object.hasOwn(expected, name)) check(mine).toEqual(expected[name]);
    if (!rabbitUp) return;
    if (Object.hasOwn(differs, name)) check(theirs).toEqual(differs[name]);
    else check(mine).toEqual(theirs);
  };
  const run = (side: S, name: string) => (scenarios[name] as (side: S) => Promise<unknown>)(side);
  describe(title, () => {
    let ours: { side: S; close(): Promise<void> } | undefined;
    let rabbit: S | undefined;
    const rabbitUp = inject('rabbitmqReachable');
    beforeAll(async () => {
      ours = await sides.ours();
      if (rabbitUp) rabbit = await sides.rabbit();
    }, options.setupTimeoutMs);
    afterAll(async () => {
      if (rabbit !== undefined) await sides.cleanup?.(rabbit);
      if (ours !== undefined) {
        await sides.cleanup?.(ours.side);
        await ours.close();
      }
    }, options.setupTimeoutMs);
    for (const name of Object.keys(scenarios)) {
      if (options.concurrent === false) {
        it(name, async ({ expect }) => {
          const runTheirs = async () => (rabbitUp ? run(rabbit as S, name) : undefined);
          const runMine = () => run((ours as { side: S }).side, name);
          let mine: Awaited<ReturnType<typeof runMine>>;
          let theirs: Awaited<ReturnType<typeof runTheirs>>;
          if (options.rabbitmqFirst) {
            theirs = await runTheirs();
            mine = await runMine();
          } else {
            mine = await runMine();
            theirs = await runTheirs();
          }
          compare(expect, name, mine, theirs, rabbitUp);
        });
        continue;
      }
      it.concurrent(name, async ({ expect }) => {
        const [mine, theirs] = await Promise.all([
          run((ours as { side: S }).side, name),
          rabbitUp ? run(rabbit as S, name) : undefined,
        ]);
        compare(expect, name, mine, theirs, rabbitUp);
      });
    }
  });
}

/** Options of {@link differentialSuite}. */
export interface DifferentialSuiteOptions extends Omit<DifferentialOptions, 'snapshot'> {
  /** Options of our broker. @defaultValue {} */
  readonly broker?: BrokerServerOptions;
  /**
   * Prepares each broker before its first scenario (users, vhosts, limits, fixtures): resolves with the URL
   * the scenarios connect to there, or undefined for the broker's own (guest, vhost '/').
   */
  readonly prepare?: (broker: { url: string; side: BrokerSide }) => Promise<string | undefined>;
  /** Undoes `prepare` after the last scenario (RabbitMQ's state outlives the test); gets the prepared URL. */
  readonly cleanup?: (broker: { url: string; side: BrokerSide }) => Promise<void>;
}

/** An AMQP side: where scenarios connect, and the broker seen from outside AMQP. */
interface AmqpSide {
  readonly url: string;
  readonly side: BrokerSide;
}

/** The differential harness over AMQP: each scenario gets a fresh connection to each broker. */
export function differentialSuite(
  title: string,
  scenarios: Readonly<Record<string, DifferentialScenario>>,
  /** Checks on our broker after every scenario ran and it closed (nothing left behind). */
  afterClose: (server: BrokerServer) => void,
  options: DifferentialSuiteOptions = {},
): void {
  /** `url` and `side` with the URL `prepare` chose there. */
  const prepared = async (url: string, side: BrokerSide): Promise<AmqpSide> => ({
    url: (await options.prepare?.({ url, side })) ?? url,
    side,
  });
  const amqpScenarios = Object.fromEntries(
    Object.entries(scenarios).map(([name, scenario]) => [
      name,
      ({ url, side }: AmqpSide) => withConnection(url, (conn) => scenario({ conn, url, side })),
    ]),
  );
  differentialRuns<AmqpSide>(
    title,
    amqpScenarios,
    {
      async ours() {
        const { server, target } = await startBroker(options.broker);
        const side = await prepared(target.url, ourSide(server)).catch(async (err: unknown) => {
          await server.close();
          throw err;
        });
        return {
          side,
          async close() {
            await server.close();
            afterClose(server);
          },
        };
      },
      rabbit: () => prepared(rabbitTarget(inject('rabbitmqUrl')).url, RABBIT_SIDE),
      cleanup: async (side) => options.cleanup?.(side),
    },
    options,
  );
}
