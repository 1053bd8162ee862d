/**
 * The query parameters RabbitMQ's list endpoints take: `page`, `page_size` (1..500, default 100), `name`
 * (substring, or a regular expression with `use_regex=true`), `sort` / `sort_reverse` (a field, dotted for
 * nested ones) and `columns` (dotted fields to keep). With `page` the answer is RabbitMQ's paged envelope.
 */
import { AdminHttpError } from './admin-http-error.js';

export type ListQuery = Readonly<Record<string, string | undefined>>;

type Item = Record<string, unknown>;

const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

function path(item: unknown, dotted: string): unknown {
  let v: unknown = item;
  for (const part of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Item)[part];
  }
  return v;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

/** Keeps only the dotted `columns` of an item (nested objects keep only the asked-for parts). */
function pick(item: Item, columns: readonly string[]): Item {
  const out: Item = {};
  for (const column of columns) {
    const v = path(item, column);
    if (v === undefined) continue;
    const parts = column.split('.');
    let into = out;
    for (const part of parts.slice(0, -1)) {
      into[part] ??= {};
      into = into[part] as Item;
    }
    into[parts[parts.length - 1]!] = v;
  }
  return out;
}

/** Whether a query-string boolean is true (`true`, as RabbitMQ reads it). */
export function queryFlag(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

/** Applies filtering, sorting, columns and pagination to a list answer. */
export function applyListQuery(items: Item[], query: ListQuery): unknown {
  const total = items.length;
  let filtered = items;
  const name = query.name;
  if (name !== undefined && name !== '') {
    let test: (s: string) => boolean;
    if (queryFlag(query.use_regex)) {
      let re: RegExp;
      try {
        re = new RegExp(name);
      } catch {
        throw new AdminHttpError(400, 'bad_request', `invalid regular expression: ${name}`);
      }
      test = (s) => re.test(s);
    } else {
      const lower = name.toLowerCase();
      test = (s) => s.toLowerCase().includes(lower);
    }
    filtered = filtered.filter((i) => test(String(i.name ?? '')));
  }
  if (query.sort !== undefined && query.sort !== '') {
    const key = query.sort;
    filtered = [...filtered].sort((a, b) => compare(path(a, key), path(b, key)));
  }
  if (queryFlag(query.sort_reverse)) filtered = [...filtered].reverse();
  const columns = query.columns?.split(',').filter((c) => c !== '');
  const shape = (list: Item[]): Item[] =>
    columns === undefined || columns.length === 0 ? list : list.map((i) => pick(i, columns));
  if (query.page === undefined) return shape(filtered);
  const page = Number(query.page);
  const pageSize = query.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(query.page_size);
  if (!Number.isInteger(page) || !Number.isInteger(pageSize)) {
    throw new AdminHttpError(400, 'bad_request', 'Pagination parameters are invalid');
  }
  if (page < 1 || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new AdminHttpError(
      400,
      'invalid_pagination_parameters',
      `Invalid pagination parameters: page number ${page}, page size ${query.page_size ?? 'undefined'}`,
    );
  }
  const pageCount = Math.ceil(filtered.length / pageSize);
  if (page > Math.max(pageCount, 1)) {
    throw new AdminHttpError(
      400,
      'page_out_of_range',
      `Page out of range, page: ${page} page size: ${pageSize}, len: ${filtered.length}`,
    );
  }
  const slice = filtered.slice((page - 1) * pageSize, page * pageSize);
  return {
    filtered_count: filtered.length,
    item_count: slice.length,
    items: shape(slice),
    page,
    page_count: pageCount,
    page_size: pageSize,
    total_count: total,
  };
}
