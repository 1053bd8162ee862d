/**
 * Topic exchange: binding keys are dot-separated words where `*` matches exactly one word and `#` zero or
 * more. Bindings live in a trie of words, so routing walks the key once per matching branch instead of
 * testing every binding (and never builds a regular expression).
 *
 * Words as RabbitMQ splits them (routing and binding keys alike): the empty key has no words at all (so
 * only `#`, `#.#`… and the empty binding match it, never `*` or `#.*`); otherwise every dot separates two
 * words, which may be empty (`a..b` is `a`, ``, `b`; `.` is two empty words, matched by `*.*`).
 *
 *   bindings  a.*.c   a.#   #.c          root ─a─▶ (a) ─*─▶ (a.*) ─c─▶ [q1]
 *                                          │         └─#─▶ [q2]
 *                                          └─#─▶ (#) ─c─▶ [q3]
 */
import type { Message } from '../queue/message.js';

import { BaseExchange, type Binding, type Destination, DestinationCounts } from './exchange.js';

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  queues: DestinationCounts | undefined;
  bindings = 0;
}

export class TopicExchange extends BaseExchange {
  readonly type = 'topic' as const;
  readonly #root = new TrieNode();

  route(_message: Message, routingKey: string, out: Set<Destination>): void {
    match(this.#root, topicWords(routingKey), 0, out);
  }

  protected addToIndex(binding: Binding): void {
    let node = this.#root;
    node.bindings++;
    for (const word of topicWords(binding.routingKey)) {
      let next = node.children.get(word);
      if (next === undefined) {
        next = new TrieNode();
        node.children.set(word, next);
      }
      node = next;
      node.bindings++;
    }
    node.queues ??= new DestinationCounts();
    node.queues.add(binding.destination);
  }

  protected removeFromIndex(binding: Binding): void {
    const words = topicWords(binding.routingKey);
    const path: TrieNode[] = [this.#root];
    let node = this.#root;
    for (const word of words) {
      const next = node.children.get(word);
      if (next === undefined) return;
      path.push(next);
      node = next;
    }
    if (node.queues?.remove(binding.destination)) node.queues = undefined;
    for (const n of path) n.bindings--;
    // Prune branches left without bindings.
    for (let i = words.length; i >= 1; i--) {
      if (path[i]!.bindings === 0) path[i - 1]!.children.delete(words[i - 1]!);
    }
  }
}

const NO_WORDS: readonly string[] = [];

/** The words of a routing or binding key: none for the empty key, else one more than its dots. */
function topicWords(key: string): readonly string[] {
  return key === '' ? NO_WORDS : key.split('.');
}

function match(node: TrieNode, words: readonly string[], i: number, out: Set<Destination>): void {
  if (i === words.length) {
    node.queues?.addTo(out);
    // A trailing `#` matches zero words.
    const hash = node.children.get('#');
    if (hash !== undefined) match(hash, words, i, out);
    return;
  }
  const exact = node.children.get(words[i]!);
  if (exact !== undefined) match(exact, words, i + 1, out);
  const star = node.children.get('*');
  if (star !== undefined) match(star, words, i + 1, out);
  const hash = node.children.get('#');
  if (hash !== undefined) {
    // `#` swallows zero or more words.
    for (let j = i; j <= words.length; j++) match(hash, words, j, out);
  }
}
