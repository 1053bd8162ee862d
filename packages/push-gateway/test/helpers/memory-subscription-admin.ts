import type {
  ControlSubscription,
  NewSubscription,
  SubscriptionAdmin,
} from '../../src/control/control-ports.js';
import {
  LEGACY_ALERT_DEFAULTS,
  type LegacyParamsPatch,
  type LegacySubscriptionParams,
} from '../../src/control/legacy-params.js';
import { PushError } from '../../src/errors.js';

/**
 * A SubscriptionAdmin held in memory, standing in for the engine's subscription source (which lives in
 * src/subscriptions/) so the control plane's own behaviour can be tested on its own.
 */
export class MemorySubscriptionAdmin implements SubscriptionAdmin {
  readonly subs = new Map<number, ControlSubscription>();
  readonly params = new Map<number, LegacyParamsPatch>();
  cacheClears: (readonly string[] | undefined)[] = [];
  #nextId = 1;

  constructor(readonly readOnly = false) {}

  async list(): Promise<ControlSubscription[]> {
    return [...this.subs.values()].sort((a, b) => a.id - b.id);
  }
  async get(id: number): Promise<ControlSubscription | undefined> {
    return this.subs.get(id);
  }
  async create(input: NewSubscription): Promise<ControlSubscription> {
    if (this.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions come from MySQL');
    const id = input.id ?? this.#nextId;
    if (this.subs.has(id)) throw new PushError('DSP_PUSH_CONFLICT', `subscription ${id} exists`);
    this.#nextId = Math.max(this.#nextId, id + 1);
    const sub: ControlSubscription = {
      id,
      topic: input.topic,
      receptionUri: input.receptionUri,
      enabled: input.enabled ?? true,
      ...(input.subscriberId === undefined ? {} : { subscriberId: input.subscriberId }),
    };
    this.subs.set(id, sub);
    return sub;
  }
  async update(id: number, patch: Partial<NewSubscription>): Promise<ControlSubscription> {
    if (this.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions come from MySQL');
    const cur = this.subs.get(id);
    if (!cur) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
    const next = { ...cur, ...patch, id };
    this.subs.set(id, next as ControlSubscription);
    return next as ControlSubscription;
  }
  async remove(id: number): Promise<boolean> {
    if (this.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions come from MySQL');
    return this.subs.delete(id);
  }
  async getParams(id: number): Promise<LegacySubscriptionParams> {
    const sub = this.subs.get(id);
    if (!sub) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
    return {
      SubscriptionId: id,
      Concurrency: 5,
      ConcurrencyOfRetry: 1,
      IntervalOfSending: 0,
      ProcessTimeout: 0,
      ReceptionUri: sub.receptionUri,
      AlerterEmails: '',
      AlerterReceiver: '',
      ReceiveBenchMsgs: false,
      AlerterPhoneNumbers: '',
      AlerterEnabled: true,
      DropMessageThreshold: 0,
      DropMessageThresholdAction: 0,
      ...LEGACY_ALERT_DEFAULTS,
      ...this.params.get(id),
    };
  }
  async setParams(id: number, patch: LegacyParamsPatch): Promise<LegacySubscriptionParams> {
    if (!this.subs.has(id)) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
    this.params.set(id, { ...this.params.get(id), ...patch });
    return this.getParams(id);
  }
  async clearCache(prefixes?: readonly string[]): Promise<number> {
    this.cacheClears.push(prefixes);
    return prefixes?.length ?? this.subs.size;
  }
}
