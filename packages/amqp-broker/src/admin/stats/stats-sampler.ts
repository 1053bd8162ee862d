/**
 * Message rates for the management API, derived like RabbitMQ's: every `intervalMs` (5 s by default) the
 * cumulative counters of each queue and vhost are read and the rate is the change over the last interval,
 * per second. The hot path only increments integers; all arithmetic happens here, off it.
 *
 * Global totals keep what deleted queues had counted (as of their last sample), so they never go down.
 */
import type { Queue } from '../../queue/queue.js';
import type { BrokerServer } from '../../server.js';

/** Cumulative counts and the rates of the last sampling interval (messages per second). */
export interface MessageCounts {
  publish: number;
  deliverGet: number;
  redeliver: number;
  ack: number;
  publishRate: number;
  deliverGetRate: number;
  redeliverRate: number;
  ackRate: number;
}

/** Depths and their rates of change (messages per second). */
export interface DepthSample {
  messages: number;
  ready: number;
  unacked: number;
  messagesRate: number;
  readyRate: number;
  unackedRate: number;
}

interface QueueSample {
  counts: MessageCounts;
  depth: DepthSample;
}

/** A vhost's queue counts (its deleted queues included) and what was published into it, with rates. */
export interface VhostSample {
  counts: MessageCounts;
  depth: DepthSample;
  received: number;
  receivedRate: number;
}

function zeroCounts(): MessageCounts {
  return {
    publish: 0,
    deliverGet: 0,
    redeliver: 0,
    ack: 0,
    publishRate: 0,
    deliverGetRate: 0,
    redeliverRate: 0,
    ackRate: 0,
  };
}

function zeroDepth(): DepthSample {
  return { messages: 0, ready: 0, unacked: 0, messagesRate: 0, readyRate: 0, unackedRate: 0 };
}

export class StatsSampler {
  readonly #broker: BrokerServer;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastAt = Date.now();
  #queues = new Map<Queue, QueueSample & { vhost: string }>();
  #vhosts = new Map<string, VhostSample>();
  /** Counted by queues deleted since (global totals keep them). */
  readonly #retired = zeroCounts();
  /** The same per vhost (a management user's overview sums its own vhosts). */
  readonly #retiredByVhost = new Map<string, MessageCounts>();
  #global = zeroCounts();
  #globalDepth = zeroDepth();
  #received = 0;
  #receivedRate = 0;

  constructor(broker: BrokerServer, intervalMs: number) {
    this.#broker = broker;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes a sample now (the timer calls this; tests may too). */
  sample(): void {
    const now = Date.now();
    const seconds = Math.max((now - this.#lastAt) / 1000, 0.001);
    this.#lastAt = now;
    const next = new Map<Queue, QueueSample & { vhost: string }>();
    const nextVhosts = new Map<string, VhostSample>();
    const totals = zeroCounts();
    const depth = zeroDepth();
    let received = 0;
    for (const vhost of this.#broker.vhosts()) {
      received += vhost.publishedCount;
      const vCounts = zeroCounts();
      const vDepth = zeroDepth();
      for (const q of vhost.queues()) {
        const prev = this.#queues.get(q);
        const s = q.stats;
        const ready = q.messageCount;
        const unacked = q.unacked;
        const counts: MessageCounts = {
          publish: s.publish,
          deliverGet: s.deliverGet,
          redeliver: s.redeliver,
          ack: s.ack,
          publishRate: rate(s.publish, prev?.counts.publish, seconds),
          deliverGetRate: rate(s.deliverGet, prev?.counts.deliverGet, seconds),
          redeliverRate: rate(s.redeliver, prev?.counts.redeliver, seconds),
          ackRate: rate(s.ack, prev?.counts.ack, seconds),
        };
        const d: DepthSample = {
          messages: ready + unacked,
          ready,
          unacked,
          messagesRate: rate(ready + unacked, prev?.depth.messages ?? 0, seconds, true),
          readyRate: rate(ready, prev?.depth.ready ?? 0, seconds, true),
          unackedRate: rate(unacked, prev?.depth.unacked ?? 0, seconds, true),
        };
        next.set(q, { counts, depth: d, vhost: vhost.name });
        addCounts(totals, counts);
        addCounts(vCounts, counts);
        addDepth(depth, d);
        addDepth(vDepth, d);
      }
      const prevVhost = this.#vhosts.get(vhost.name);
      nextVhosts.set(vhost.name, {
        counts: vCounts,
        depth: vDepth,
        received: vhost.publishedCount,
        receivedRate: rate(vhost.publishedCount, prevVhost?.received, seconds),
      });
    }
    for (const [q, old] of this.#queues) {
      if (next.has(q)) continue;
      const retired = { ...old.counts, ...noRates };
      addCounts(this.#retired, retired);
      if (nextVhosts.has(old.vhost)) {
        const byVhost = this.#retiredByVhost.get(old.vhost) ?? zeroCounts();
        addCounts(byVhost, retired);
        this.#retiredByVhost.set(old.vhost, byVhost);
      }
    }
    // A deleted vhost's history goes with it.
    for (const name of this.#retiredByVhost.keys())
      if (!nextVhosts.has(name)) this.#retiredByVhost.delete(name);
    for (const [name, v] of nextVhosts) {
      const retired = this.#retiredByVhost.get(name);
      if (retired !== undefined) addCounts(v.counts, retired);
    }
    this.#queues = next;
    this.#vhosts = nextVhosts;
    const prevGlobal = this.#global;
    const g = zeroCounts();
    addCounts(g, this.#retired);
    addCounts(g, totals);
    g.publishRate = rate(g.publish, prevGlobal.publish, seconds);
    g.deliverGetRate = rate(g.deliverGet, prevGlobal.deliverGet, seconds);
    g.redeliverRate = rate(g.redeliver, prevGlobal.redeliver, seconds);
    g.ackRate = rate(g.ack, prevGlobal.ack, seconds);
    this.#global = g;
    const prevDepth = this.#globalDepth;
    depth.messagesRate = rate(depth.messages, prevDepth.messages, seconds, true);
    depth.readyRate = rate(depth.ready, prevDepth.ready, seconds, true);
    depth.unackedRate = rate(depth.unacked, prevDepth.unacked, seconds, true);
    this.#globalDepth = depth;
    this.#receivedRate = rate(received, this.#received, seconds);
    this.#received = received;
  }

  /** A queue's counts and rates as of the last sample (zeros for a queue younger than it). */
  queue(q: Queue): QueueSample {
    return this.#queues.get(q) ?? { counts: zeroCounts(), depth: zeroDepth() };
  }

  /** A vhost's counts and rates as of the last sample (zeros for a vhost younger than it). */
  vhost(name: string): VhostSample {
    return (
      this.#vhosts.get(name) ?? { counts: zeroCounts(), depth: zeroDepth(), received: 0, receivedRate: 0 }
    );
  }

  /** Broker-wide queue counts (deleted queues included) and rates as of the last sample. */
  get global(): MessageCounts {
    return this.#global;
  }

  get globalDepth(): DepthSample {
    return this.#globalDepth;
  }

  /** Messages published into any vhost (live, not sampled) and the rate of the last interval. */
  received(): { total: number; rate: number } {
    let total = 0;
    for (const vhost of this.#broker.vhosts()) total += vhost.publishedCount;
    return { total, rate: this.#receivedRate };
  }

  /** Delivered and acknowledged, live (deleted queues as of their last sample). */
  liveTotals(): { deliverGet: number; redeliver: number; ack: number; publish: number } {
    const t = {
      deliverGet: this.#retired.deliverGet,
      redeliver: this.#retired.redeliver,
      ack: this.#retired.ack,
      publish: this.#retired.publish,
    };
    for (const vhost of this.#broker.vhosts()) {
      for (const q of vhost.queues()) {
        t.deliverGet += q.stats.deliverGet;
        t.redeliver += q.stats.redeliver;
        t.ack += q.stats.ack;
        t.publish += q.stats.publish;
      }
    }
    return t;
  }
}

function addDepth(into: DepthSample, d: DepthSample): void {
  into.messages += d.messages;
  into.ready += d.ready;
  into.unacked += d.unacked;
  into.messagesRate += d.messagesRate;
  into.readyRate += d.readyRate;
  into.unackedRate += d.unackedRate;
}

const noRates = { publishRate: 0, deliverGetRate: 0, redeliverRate: 0, ackRate: 0 };

function addCounts(into: MessageCounts, c: MessageCounts): void {
  into.publish += c.publish;
  into.deliverGet += c.deliverGet;
  into.redeliver += c.redeliver;
  into.ack += c.ack;
  into.publishRate += c.publishRate;
  into.deliverGetRate += c.deliverGetRate;
  into.redeliverRate += c.redeliverRate;
  into.ackRate += c.ackRate;
}

/** Change per second; a counter first seen counts from 0 unless it is a gauge (`signed`) with no history. */
function rate(now: number, before: number | undefined, seconds: number, signed = false): number {
  const delta = now - (before ?? 0);
  if (!signed && delta < 0) return 0;
  return Math.round((delta / seconds) * 10) / 10;
}
