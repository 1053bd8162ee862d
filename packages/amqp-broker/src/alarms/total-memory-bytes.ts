import { totalmem } from 'node:os';

/**
 * Memory available to the process: the machine's total memory, or the cgroup memory limit (v1 or v2,
 * read by libuv) when one is set and lower — what RabbitMQ's relative `vm_memory_high_watermark` is a
 * fraction of.
 */
export function totalMemoryBytes(): number {
  const total = totalmem();
  // Without a limit libuv reports 0 or a huge number (2^64 on cgroup v1).
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < total ? constrained : total;
}
