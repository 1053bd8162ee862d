/**
 * Which of the due requests a claim takes, within each destination's fleet-wide limits: the decision of a
 * claim, apart from its SQL (see `PgStore.claim`). Runs while the claim holds the fleet's claim lock, on
 * figures read under that lock, so the limits hold across instances.
 */

/** Fleet-wide limits of one destination origin (from the proxy's destination rules). */
export interface DestinationLimits {
  concurrency: number;
  /** Attempts per second; undefined = unlimited. */
  ratePerSec?: number;
  burst: number;
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

/** A destination's row: token bucket and circuit breaker. */
export interface DestinationRow {
  tokens: number;
  /** Since the bucket was last refilled. */
  elapsedMs: number;
  failures: number;
  /** Until the breaker's cooldown ends (negative: ended); null when it has none. */
  openMs: number | null;
}

/** A due request nobody holds, with its destination's figures. */
export interface DueCandidate {
  id: string;
  origin: string;
  /** Attempts of the origin in flight fleet-wide (unexpired leases of unfinished attempts). */
  inflight: number;
  dest: DestinationRow | undefined;
}

export interface ClaimPlan {
  /** Row ids to lease, in due order. */
  picked: string[];
  /** Origins whose breaker lets the picked request through as its probe. */
  probes: Set<string>;
  /** Destination rows to write: buckets spent from, and breakers whose probe was taken (re-opened while it runs). */
  touched: Array<{ origin: string; tokens: number; probe: boolean; cooldownMs: number }>;
}

/** Picks up to `max` of `due` (oldest first), skipping destinations with no room. */
export function planClaim(
  due: readonly DueCandidate[],
  max: number,
  limitsFor: (origin: string) => DestinationLimits,
): ClaimPlan {
  const room = new Map<string, { left: number; tokens: number | undefined; open: boolean; picked: number }>();
  for (const c of due) {
    if (room.has(c.origin)) continue;
    const l = limitsFor(c.origin);
    const d = c.dest;
    let left = l.concurrency - c.inflight;
    const open = d !== undefined && d.failures >= l.failureThreshold;
    if (d && open) {
      // Open: nothing until the cooldown ends; then one probe at a time (the probe re-opens it).
      if (d.openMs !== null && d.openMs > 0) left = 0;
      else left = Math.min(left, c.inflight > 0 ? 0 : 1);
    }
    let tokens: number | undefined;
    if (l.ratePerSec !== undefined) {
      tokens = d ? Math.min(l.burst, d.tokens + (Math.max(0, d.elapsedMs) / 1000) * l.ratePerSec) : l.burst;
      left = Math.min(left, Math.floor(tokens));
    }
    room.set(c.origin, { left: Math.max(0, left), tokens, open, picked: 0 });
  }
  const picked: string[] = [];
  for (const c of due) {
    if (picked.length >= max) break;
    const slot = room.get(c.origin);
    if (!slot || slot.left <= 0) continue;
    slot.left--;
    if (slot.tokens !== undefined) slot.tokens -= 1;
    slot.picked++;
    picked.push(c.id);
  }
  const probes = new Set<string>();
  const touched: ClaimPlan['touched'] = [];
  for (const [origin, s] of room) {
    if (s.picked === 0) continue;
    if (s.open) probes.add(origin);
    if (s.tokens !== undefined || s.open)
      touched.push({
        origin,
        tokens: s.tokens ?? 0,
        probe: s.open,
        cooldownMs: limitsFor(origin).cooldownMs,
      });
  }
  return { picked, probes, touched };
}
