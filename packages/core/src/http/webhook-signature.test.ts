import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { thrownCode } from '../../test/helpers/thrown-code.js';
import { signWebhook, verifyWebhook, webhookSigner } from './webhook-signature.js';

const enc = new TextEncoder();

// Independent reference: the Standard Webhooks algorithm written out directly.
function reference(key: Buffer, id: string, ts: number, body: Uint8Array): string {
  const content = Buffer.concat([Buffer.from(`${id}.${ts}.`, 'utf8'), Buffer.from(body)]);
  return `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
}

describe('signWebhook', () => {
  it('matches the published Standard Webhooks example vector', () => {
    const headers = signWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      enc.encode('{"test": 2432232314}'),
    );
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('decodes a whsec_ secret as base64', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const secret = `whsec_${key.toString('base64')}`;
    const body = enc.encode('{"a":1}');
    expect(signWebhook(secret, 'msg_1', 1_700_000_000, body)['webhook-signature']).toBe(
      reference(key, 'msg_1', 1_700_000_000, body),
    );
  });

  it('uses any other secret as its UTF-8 bytes', () => {
    const body = enc.encode('hello');
    expect(signWebhook('pässwörd', 'id', 1, body)['webhook-signature']).toBe(
      reference(Buffer.from('pässwörd', 'utf8'), 'id', 1, body),
    );
  });

  it('signs the body bytes exactly, including non-UTF-8 bytes', () => {
    const body = new Uint8Array([0xff, 0x00, 0xfe, 0x2e, 0x0a]);
    const key = Buffer.from('k');
    expect(signWebhook('k', 'id', 5, body)['webhook-signature']).toBe(reference(key, 'id', 5, body));
    // A lossy text round-trip would change the signature.
    const lossy = enc.encode(new TextDecoder().decode(body));
    expect(signWebhook('k', 'id', 5, lossy)['webhook-signature']).not.toBe(reference(key, 'id', 5, body));
  });

  it('signs an empty body and a body that is a Uint8Array view into a larger buffer', () => {
    const key = Buffer.from('k');
    expect(signWebhook('k', 'id', 5, new Uint8Array())['webhook-signature']).toBe(
      reference(key, 'id', 5, new Uint8Array()),
    );
    const backing = enc.encode('xxBODYyy');
    const view = backing.subarray(2, 6);
    expect(signWebhook('k', 'id', 5, view)['webhook-signature']).toBe(
      reference(key, 'id', 5, enc.encode('BODY')),
    );
  });

  it('changes when any signed part changes', () => {
    const base = signWebhook('k', 'id', 5, enc.encode('b'))['webhook-signature'];
    expect(signWebhook('k2', 'id', 5, enc.encode('b'))['webhook-signature']).not.toBe(base);
    expect(signWebhook('k', 'id2', 5, enc.encode('b'))['webhook-signature']).not.toBe(base);
    expect(signWebhook('k', 'id', 6, enc.encode('b'))['webhook-signature']).not.toBe(base);
    expect(signWebhook('k', 'id', 5, enc.encode('c'))['webhook-signature']).not.toBe(base);
  });

  it('rejects bad secrets, ids and timestamps with coded errors', () => {
    const body = enc.encode('x');
    expect(thrownCode(() => signWebhook('', 'id', 1, body))).toBe('DSP_CORE_WEBHOOK_SECRET_INVALID');
    expect(thrownCode(() => signWebhook('whsec_', 'id', 1, body))).toBe('DSP_CORE_WEBHOOK_SECRET_INVALID');
    expect(thrownCode(() => signWebhook('whsec_not base64!', 'id', 1, body))).toBe(
      'DSP_CORE_WEBHOOK_SECRET_INVALID',
    );
    expect(thrownCode(() => signWebhook('whsec_abc', 'id', 1, body))).toBe('DSP_CORE_WEBHOOK_SECRET_INVALID');
    expect(thrownCode(() => signWebhook('k', '', 1, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => signWebhook('k', 'has space', 1, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => signWebhook('k', 'line\nbreak', 1, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => signWebhook('k', 'id', -1, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => signWebhook('k', 'id', 1.5, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(thrownCode(() => signWebhook('k', 'id', Number.NaN, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
  });
});

describe('webhookSigner', () => {
  it('checks the secret when it is made and then signs as signWebhook does', () => {
    expect(thrownCode(() => webhookSigner('whsec_not base64!'))).toBe('DSP_CORE_WEBHOOK_SECRET_INVALID');
    expect(thrownCode(() => webhookSigner(''))).toBe('DSP_CORE_WEBHOOK_SECRET_INVALID');
    const secret = `whsec_${Buffer.from('some key').toString('base64')}`;
    const sign = webhookSigner(secret);
    const body = enc.encode('{"a":1}');
    expect(sign('msg_1', 1_700_000_000, body)).toEqual(signWebhook(secret, 'msg_1', 1_700_000_000, body));
    expect(thrownCode(() => sign('has space', 1, body))).toBe('DSP_CORE_INVALID_ARGUMENT');
  });
});

describe('verifyWebhook', () => {
  const secret = `whsec_${Buffer.from('a-32-byte-long-secret-key-000000').toString('base64')}`;
  const body = enc.encode('{"event":"delivered"}');
  const ts = 1_736_942_400; // 2025-01-15T12:00:00Z
  const now = ts * 1000;
  const signed = signWebhook(secret, 'msg_abc', ts, body);

  it('accepts what signWebhook produced', () => {
    expect(verifyWebhook(secret, signed, body, { now })).toEqual({ ok: true });
  });

  it('finds headers in any case', () => {
    const upper = {
      'Webhook-Id': signed['webhook-id'],
      'WEBHOOK-TIMESTAMP': signed['webhook-timestamp'],
      'Webhook-Signature': signed['webhook-signature'],
    };
    expect(verifyWebhook(secret, upper, body, { now })).toEqual({ ok: true });
  });

  it('accepts when any of several space-separated signatures matches, ignoring other versions', () => {
    const other = signWebhook('whsec_b3RoZXI=', 'msg_abc', ts, body)['webhook-signature'];
    const list = `v2,zzz ${other} v1a,${signed['webhook-signature'].slice(3)} garbage ${signed['webhook-signature']}`;
    expect(verifyWebhook(secret, { ...signed, 'webhook-signature': list }, body, { now })).toEqual({
      ok: true,
    });
  });

  it('rejects a tampered body, id or timestamp', () => {
    expect(verifyWebhook(secret, signed, enc.encode('{"event":"delivered" }'), { now })).toEqual({
      ok: false,
      reason: 'no_matching_signature',
    });
    expect(verifyWebhook(secret, { ...signed, 'webhook-id': 'msg_abd' }, body, { now }).ok).toBe(false);
    const shifted = { ...signed, 'webhook-timestamp': String(ts + 1) };
    expect(verifyWebhook(secret, shifted, body, { now })).toEqual({
      ok: false,
      reason: 'no_matching_signature',
    });
  });

  it('rejects the wrong secret and signatures of the wrong length or version only', () => {
    expect(verifyWebhook('whsec_d3Jvbmc=', signed, body, { now }).ok).toBe(false);
    const sig = signed['webhook-signature'];
    for (const bad of [sig.slice(0, -4), `v2${sig.slice(2)}`, sig.slice(3), '', 'v1,']) {
      expect(verifyWebhook(secret, { ...signed, 'webhook-signature': bad }, body, { now }), bad).toEqual({
        ok: false,
        reason: 'no_matching_signature',
      });
    }
  });

  it('enforces the timestamp tolerance both ways (default 300 s)', () => {
    expect(verifyWebhook(secret, signed, body, { now: now + 300_000 }).ok).toBe(true);
    expect(verifyWebhook(secret, signed, body, { now: now - 300_000 }).ok).toBe(true);
    expect(verifyWebhook(secret, signed, body, { now: now + 300_001 })).toEqual({
      ok: false,
      reason: 'timestamp_out_of_tolerance',
    });
    expect(verifyWebhook(secret, signed, body, { now: now - 300_001 }).ok).toBe(false);
    expect(verifyWebhook(secret, signed, body, { now: now + 10_000, toleranceSec: 5 }).ok).toBe(false);
    expect(verifyWebhook(secret, signed, body, { now: now + 5_000, toleranceSec: 5 }).ok).toBe(true);
  });

  it('uses the real clock by default', () => {
    const fresh = signWebhook(secret, 'm', Math.floor(Date.now() / 1000), body);
    expect(verifyWebhook(secret, fresh, body).ok).toBe(true);
    expect(verifyWebhook(secret, signed, body).ok).toBe(false);
  });

  it('reports missing headers and malformed timestamps', () => {
    const { 'webhook-id': _id, ...noId } = signed;
    expect(verifyWebhook(secret, noId, body, { now })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifyWebhook(secret, { ...signed, 'webhook-signature': ['a', 'b'] }, body, { now })).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
    for (const bad of ['', '1e9', '-5', ' 1736942400', '1736942400.0']) {
      expect(verifyWebhook(secret, { ...signed, 'webhook-timestamp': bad }, body, { now }), bad).toEqual({
        ok: false,
        reason: 'invalid_timestamp',
      });
    }
  });

  it('verifies against the timestamp text as sent', () => {
    // A sender that zero-pads signs "0…"; verifying must use the same text, not a re-formatted number.
    const key = Buffer.from('k');
    const padded = `0${ts}`;
    const content = Buffer.concat([Buffer.from(`id.${padded}.`), Buffer.from(body)]);
    const signature = `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
    const headers = { 'webhook-id': 'id', 'webhook-timestamp': padded, 'webhook-signature': signature };
    expect(verifyWebhook('k', headers, body, { now })).toEqual({ ok: true });
  });
});
