/**
 * The process's memory as the memory alarm measures it: the resident set size (RSS, what the OOM killer
 * sees), less the memory the C allocator keeps after it was freed.
 *
 * glibc does not give freed heap memory back to the system (it keeps it for later allocations): once a
 * backlog of message bodies has been consumed or deleted, RSS stays where the backlog took it although
 * that memory is free for the next messages. Taken as it is, RSS would hold the alarm — and every
 * publisher — forever after the first backlog. So the reading is capped at what the process can account
 * for: the V8 heap, the ArrayBuffers (message bodies live there) and the non-heap memory the process had
 * when first measured (code, stacks, native libraries). While memory grows, RSS is the lower of the two
 * and is what counts.
 */
let overheadBytes: number | undefined;

export function processMemoryBytes(): number {
  const m = process.memoryUsage();
  const accounted = m.heapTotal + m.arrayBuffers;
  overheadBytes ??= Math.max(0, m.rss - accounted);
  return Math.min(m.rss, accounted + overheadBytes);
}
