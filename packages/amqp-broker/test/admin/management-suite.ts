/**
 * The differential harness in its HTTP form: every scenario holds a management API conversation with our
 * broker and, when reachable, with RabbitMQ, through {@link differentialRuns} (same comparison, same
 * `expected`/`rabbitmqDiffers`, RabbitMQ skipped the same way when it is away). Results carry per-run names,
 * so they are compared, not snapshotted.
 */
import { type DifferentialOptions, differentialRuns } from '../helpers/differential-suite.js';
import type { AdminHarness, startAdminHarness } from './admin-harness.js';
import { type ManagementTarget, ourManagementTarget, rabbitManagementTarget } from './management-targets.js';

/** A management side as scenarios see it; `harness` is ours only (checks of our broker's own state). */
export interface ManagementSide extends ManagementTarget {
  readonly name: 'dispatcher' | 'rabbitmq';
  readonly harness?: AdminHarness;
}

/** Options of {@link managementSuite}. */
export interface ManagementSuiteOptions extends Omit<DifferentialOptions, 'snapshot'> {
  /** Options of our broker (vhosts, users). @defaultValue vhosts '/' and 'other', guest */
  readonly ourBroker?: Parameters<typeof startAdminHarness>[0];
  /** Creates what the scenarios need on a side (vhosts, users), before the first. */
  readonly prepare?: (side: ManagementSide) => Promise<void>;
  /** Removes it after the last (RabbitMQ's state outlives the test). */
  readonly cleanup?: (side: ManagementSide) => Promise<void>;
}

export function managementSuite(
  title: string,
  scenarios: Readonly<Record<string, (side: ManagementSide) => Promise<unknown>>>,
  options: ManagementSuiteOptions = {},
): void {
  differentialRuns<ManagementSide>(
    title,
    scenarios,
    {
      async ours() {
        const { target, harness } = await ourManagementTarget(options.ourBroker);
        const side = { ...target, name: 'dispatcher' as const, harness };
        await options.prepare?.(side).catch(async (err: unknown) => {
          await harness.close();
          throw err;
        });
        return { side, close: () => harness.close() };
      },
      async rabbit() {
        const side = { ...(await rabbitManagementTarget()), name: 'rabbitmq' as const };
        await options.prepare?.(side);
        return side;
      },
      cleanup: async (side) => options.cleanup?.(side),
    },
    // RabbitMQ first, as these tests always ran: some of its figures depend on how long its statistics had.
    { rabbitmqFirst: true, ...options, snapshot: false },
  );
}
