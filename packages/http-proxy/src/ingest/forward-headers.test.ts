import { describe, expect, it } from 'vitest';
import { forwardHeaders } from './forward-headers.js';

describe('forwardHeaders', () => {
  it('keeps end-to-end headers with their exact values', () => {
    const incoming = {
      'content-type': 'application/json; charset=utf-8',
      authorization: 'Bearer  abc==  ',
      accept: '*/*',
      'x-custom': '',
      'user-agent': 'curl/8.5.0',
    };
    expect(forwardHeaders(incoming)).toEqual(incoming);
  });

  it('drops every hop-by-hop header, host, content-length and expect', () => {
    const result = forwardHeaders({
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      host: 'dispatcher.local:8080',
      'content-length': '42',
      expect: '100-continue',
      'content-type': 'text/plain',
    });
    expect(result).toEqual({ 'content-type': 'text/plain' });
  });

  it('drops headers named in Connection, case-insensitively, with odd spacing and repeats', () => {
    const result = forwardHeaders({
      connection: ['Keep-Alive, X-Hop-One ,,x-hop-two', 'X-HOP-THREE'],
      'x-hop-one': '1',
      'x-hop-two': '2',
      'x-hop-three': '3',
      'x-end-to-end': 'kept',
    });
    expect(result).toEqual({ 'x-end-to-end': 'kept' });
  });

  it('drops every x-dispatcher-* control header, whatever its case', () => {
    const result = forwardHeaders({
      'x-dispatcher-origin-host': 'api.example.com',
      'X-Dispatcher-Timeout': '1000',
      'x-dispatcher-anything-new': 'x',
      'x-dispatcherish': 'kept: no dash after the prefix',
    });
    expect(result).toEqual({ 'x-dispatcherish': 'kept: no dash after the prefix' });
  });

  it('keeps repeated values in order and copies the array', () => {
    const cookies = ['a=1', 'b=2'];
    const result = forwardHeaders({ 'set-cookie': cookies, 'x-multi': ['1', '2', '1'] });
    expect(result).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'x-multi': ['1', '2', '1'] });
    expect(result['set-cookie']).not.toBe(cookies);
  });

  it('lowercases names and merges names that differ only in case', () => {
    const result = forwardHeaders({ 'X-Trace': 'a', 'x-trace': ['b', 'c'], 'Content-Type': 'text/csv' });
    expect(result).toEqual({ 'x-trace': ['a', 'b', 'c'], 'content-type': 'text/csv' });
  });

  it('skips undefined values and HTTP/2 pseudo-headers', () => {
    const result = forwardHeaders({ ':path': '/x', ':method': 'POST', 'x-a': undefined, 'x-b': 'b' });
    expect(result).toEqual({ 'x-b': 'b' });
  });

  it('does not mutate its input', () => {
    const incoming = { connection: 'x-a', 'x-a': '1', 'x-b': ['1'] };
    const copy = structuredClone(incoming);
    forwardHeaders(incoming);
    expect(incoming).toEqual(copy);
  });
});
