/**
 * The differential harness: every scenario runs on our broker and, when reachable, on RabbitMQ, each on a
 * fresh connection; the results must be equal (and ours is snapshotted, so a change shows up even when
 * RabbitMQ is away). A scenario that must act on the broker from outside AMQP (close a connection from the
 * server's side, see whether a queue still exists without touching it) does so through `side`.
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

/** Options of {@link differentialSuite}. */
export interface DifferentialSuiteOptions {
  /**
   * Run the scenarios concurrently, each on both brokers at once; `false`: one after the other, ours
   * first. @defaultValue true
   */
  readonly concurrent?: boolean;
  /** Options of our broker. @defaultValue {} */
  readonly broker?: BrokerServerOptions;
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
  /**
   * Prepares each broker before its first scenario (users, vhosts, limits, fixtures): resolves with the URL
   * the scenarios connect to there, or undefined for the broker's own (guest, vhost '/').
   */
  readonly prepare?: (broker: { url: string; side: BrokerSide }) => Promise<string | undefined>;
  /** Undoes `prepare` after the last scenario (RabbitMQ's state outlives the test); gets the prepared URL. */
  readonly cleanup?: (broker: { url: string; side: BrokerSide }) => Promise<void>;
}

export function differentialSuite(
  title: string,
  scenarios: Readonly<Record<string, DifferentialScenario>>,
  /** Checks on our broker after every scenario ran and it closed (nothing left behind). */
  afterClose: (server: BrokerServer) => void,
  options: DifferentialSuiteOptions = {},
): void {
  const sideOf = (target: Target) => (target.name === 'dispatcher' ? ourSide(server) : RABBIT_SIDE);
  const run = (target: Target, name: string) =>
    withConnection(target.url, (conn) =>
      (scenarios[name] as DifferentialScenario)({ conn, url: target.url, side: sideOf(target) }),
    );
  /** `target` with the URL `prepare` chose for it. */
  const prepared = async (target: Target): Promise<Target> => {
    const url = await options.prepare?.({ url: target.url, side: sideOf(target) });
    return url === undefined ? target : { ...target, url };
  };
  const cleanup = (target: Target) => options.cleanup?.({ url: target.url, side: sideOf(target) });
  let server: BrokerServer;
  const expected = options.expected ?? {};
  const differs = options.rabbitmqDiffers ?? {};
  const compare = (check: ExpectStatic, name: string, mine: unknown, theirs: unknown, rabbitUp: boolean) => {
    check(mine).toMatchSnapshot();
    if (Object.hasOwn(expected, name)) check(mine).toEqual(expected[name]);
    if (!rabbitUp) return;
    if (Object.hasOwn(differs, name)) check(theirs).toEqual(differs[name]);
    else check(mine).toEqual(theirs);
  };
  describe(title, () => {
    let ours: Target;
    let rabbit: Target;
    const rabbitUp = inject('rabbitmqReachable');
    beforeAll(async () => {
      let started: Target;
      ({ server, target: started } = await startBroker(options.broker));
      ours = await prepared(started);
      if (rabbitUp) rabbit = await prepared(rabbitTarget(inject('rabbitmqUrl')));
    });
    afterAll(async () => {
      if (rabbitUp && rabbit !== undefined) await cleanup(rabbit);
      if (ours !== undefined) await cleanup(ours);
      await server.close();
      afterClose(server);
    });
    for (const name of Object.keys(scenarios)) {
      if (options.concurrent === false) {
        it(name, async ({ expect }) => {
          const mine = await run(ours, name);
          const theirs = rabbitUp ? await run(rabbit, name) : undefined;
          compare(expect, name, mine, theirs, rabbitUp);
        });
        continue;
      }
      it.concurrent(name, async ({ expect }) => {
        const [mine, theirs] = await Promise.all([run(ours, name), rabbitUp ? run(rabbit, name) : undefined]);
        compare(expect, name, mine, theirs, rabbitUp);
      });
    }
  });
}
