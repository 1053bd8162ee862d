/**
 * The differential harness: every scenario runs on our broker and, when reachable, on RabbitMQ, each on a
 * fresh connection; the results must be equal (and ours is snapshotted, so a change shows up even when
 * RabbitMQ is away).
 */
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import type { BrokerServer } from '../../src/index.js';
import { withConnection } from './amqp-helpers.js';
import { rabbitTarget, startBroker, type Target } from './targets.js';

export type DifferentialScenario = (ctx: { conn: ChannelModel; url: string }) => Promise<unknown>;

/** Options of {@link differentialSuite}. */
export interface DifferentialSuiteOptions {
  /**
   * Run the scenarios concurrently, each on both brokers at once; `false`: one after the other, ours
   * first. @defaultValue true
   */
  readonly concurrent?: boolean;
}

export function differentialSuite(
  title: string,
  scenarios: Readonly<Record<string, DifferentialScenario>>,
  /** Checks on our broker after every scenario ran and it closed (nothing left behind). */
  afterClose: (server: BrokerServer) => void,
  options: DifferentialSuiteOptions = {},
): void {
  const run = (target: Target, name: string) =>
    withConnection(target.url, (conn) =>
      (scenarios[name] as DifferentialScenario)({ conn, url: target.url }),
    );
  describe(title, () => {
    let server: BrokerServer;
    let ours: Target;
    const rabbitUp = inject('rabbitmqReachable');
    beforeAll(async () => {
      ({ server, target: ours } = await startBroker());
    });
    afterAll(async () => {
      await server.close();
      afterClose(server);
    });
    for (const name of Object.keys(scenarios)) {
      if (options.concurrent === false) {
        it(name, async ({ expect }) => {
          const mine = await run(ours, name);
          expect(mine).toMatchSnapshot();
          if (rabbitUp) expect(mine).toEqual(await run(rabbitTarget(inject('rabbitmqUrl')), name));
        });
        continue;
      }
      it.concurrent(name, async ({ expect }) => {
        const [mine, theirs] = await Promise.all([
          run(ours, name),
          rabbitUp ? run(rabbitTarget(inject('rabbitmqUrl')), name) : undefined,
        ]);
        expect(mine).toMatchSnapshot();
        if (rabbitUp) expect(mine).toEqual(theirs);
      });
    }
  });
}
