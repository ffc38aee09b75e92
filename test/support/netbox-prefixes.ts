import { contains, formatPrefix, lastAddress, type Ipv6Prefix } from '../../services/ipv6.ts';
import { canonicalCidr, parseCidr } from '../../services/netbox/cidr.ts';

/** One row of the fake NetBox's prefix table. */
export interface StoredPrefix {
  id: number;
  prefix: string;
  cidr: Ipv6Prefix;
  vrfId: number | null;
  status: string;
  description: string;
  comments: string;
  tags: string[];
  customFields: Record<string, unknown>;
  /** Set only by addPrefix (the adoption tests' rule by tenant); the API never writes it here. */
  tenant?: { id: number; name: string; slug: string } | null;
  created: string;
  lastUpdated: string;
}

/** A VRF as the fake knows it. */
export interface StoredVrf {
  id: number;
  name: string;
  rd: string | null;
}

/** A DRF-style validation error: field → messages, answered as 400. */
export class FieldErrors extends Error {
  constructor(readonly fields: Record<string, unknown>) {
    super('validation failed');
  }
}

export const STATUSES = ['container', 'active', 'reserved', 'deprecated'] as const;

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** The prefix table with NetBox's filter semantics and its available-prefixes rule. */
export class PrefixTable {
  readonly rows = new Map<number, StoredPrefix>();
  readonly vrfs = new Map<number, StoredVrf>();
  private nextId = 1;
  /**
   * Answers like a NetBox that does not know `ordering` and the `id__*` lookups (before 3.2, or
   * behind a proxy that drops them): ignored, as django-filter ignores every unknown parameter.
   */
  legacy = false;

  constructor(
    readonly tags: Set<string>,
    readonly customFields: string[],
    private readonly now: () => number,
  ) {}

  insert(fields: Omit<StoredPrefix, 'id' | 'created' | 'lastUpdated' | 'cidr'>): StoredPrefix {
    const cidr = parseCidr(fields.prefix);
    if (!cidr) throw new FieldErrors({ prefix: [`Invalid prefix: ${fields.prefix}`] });
    const at = new Date(this.now()).toISOString();
    const row = { ...fields, id: this.nextId++, prefix: formatPrefix(cidr), cidr, created: at, lastUpdated: at };
    this.rows.set(row.id, row);
    return row;
  }

  touch(row: StoredPrefix): void {
    row.lastUpdated = new Date(this.now()).toISOString();
  }

  /** NetBox's default ordering: VRF (global first), then prefix, then id. */
  sorted(rows: Iterable<StoredPrefix>): StoredPrefix[] {
    return [...rows].sort(
      (a, b) => (a.vrfId ?? 0) - (b.vrfId ?? 0) || cmp(a.cidr.network, b.cidr.network) || a.cidr.length - b.cidr.length || a.id - b.id,
    );
  }

  /** Applies list filters; an unknown parameter is ignored, as django-filter does. */
  filter(params: URLSearchParams): StoredPrefix[] {
    const known = (name: string) => !this.legacy || !(name === 'ordering' || name.startsWith('id__'));
    let rows = [...this.rows.values()];
    const keep = (pred: (r: StoredPrefix) => boolean) => (rows = rows.filter(pred));
    for (const name of [...new Set(params.keys())].filter(known)) {
      const values = params.getAll(name);
      const first = values[0] ?? '';
      switch (name) {
        case 'id':
          keep((r) => values.includes(String(r.id)));
          break;
        case 'id__gt':
        case 'id__gte':
        case 'id__lt':
        case 'id__lte': {
          const n = Number(first);
          const op = name.slice(4);
          keep((r) => (op === 'gt' ? r.id > n : op === 'gte' ? r.id >= n : op === 'lt' ? r.id < n : r.id <= n));
          break;
        }
        case 'prefix': {
          const wanted = values.map((v) => canonicalCidr(v));
          keep((r) => wanted.includes(r.prefix));
          break;
        }
        case 'within':
        case 'within_include': {
          const outer = parseCidr(first);
          keep((r) => outer !== null && within(outer, r.cidr, name === 'within'));
          break;
        }
        case 'tag': // conjoined: every tag given must be on the prefix
          keep((r) => values.every((t) => r.tags.includes(t)));
          break;
        case 'status':
          keep((r) => values.includes(r.status));
          break;
        case 'status__n':
          keep((r) => !values.includes(r.status));
          break;
        case 'mask_length':
          keep((r) => values.map(Number).includes(r.cidr.length));
          break;
        case 'mask_length__gte':
          keep((r) => r.cidr.length >= Number(first));
          break;
        case 'mask_length__lte':
          keep((r) => r.cidr.length <= Number(first));
          break;
        case 'vrf_id':
          keep((r) => values.some((v) => (v === 'null' ? r.vrfId === null : Number(v) === r.vrfId)));
          break;
        case 'vrf':
          keep((r) => values.some((v) => (v === 'null' ? r.vrfId === null : this.vrfs.get(r.vrfId ?? -1)?.rd === v)));
          break;
        case 'q':
          keep((r) => r.description.toLowerCase().includes(first.toLowerCase()) || r.prefix.includes(first.trim()));
          break;
        default: {
          // Custom field filters exist only for defined fields; "loose" (NetBox's default) is icontains.
          const cf = name.startsWith('cf_') ? name.slice(3) : null;
          if (cf !== null && this.customFields.includes(cf)) {
            keep((r) => {
              const v = r.customFields[cf];
              return v !== null && v !== undefined && String(v).toLowerCase().includes(first.toLowerCase());
            });
          }
        }
      }
    }
    // DRF's OrderingFilter: `id` / `-id` here; any other field is not modelled and keeps the default.
    const order = known('ordering') ? params.get('ordering') : null;
    if (order === 'id' || order === '-id') return rows.sort((a, b) => (order === 'id' ? a.id - b.id : b.id - a.id));
    return this.sorted(rows);
  }

  /** Children that count as used: same VRF, or every VRF under a global-table container. */
  childrenOf(parent: StoredPrefix): StoredPrefix[] {
    const anyVrf = parent.vrfId === null && parent.status === 'container';
    return [...this.rows.values()].filter((r) => within(parent.cidr, r.cidr) && (anyVrf || r.vrfId === parent.vrfId));
  }

  depthOf(row: StoredPrefix): number {
    return [...this.rows.values()].filter((r) => r.vrfId === row.vrfId && within(r.cidr, row.cidr)).length;
  }

  /** The parent minus its children, as the minimal list of CIDRs in address order (netaddr's iter_cidrs). */
  freeCidrs(parent: StoredPrefix, extra: Ipv6Prefix[] = []): Ipv6Prefix[] {
    const used = [...this.childrenOf(parent).map((r) => r.cidr), ...extra]
      .map((c) => [c.network, end(c)] as const)
      .sort((a, b) => cmp(a[0], b[0]));
    const free: Ipv6Prefix[] = [];
    let at = parent.cidr.network;
    for (const [start, stop] of [...used, [end(parent.cidr), end(parent.cidr)] as const]) {
      if (start > at) free.push(...rangeToCidrs(at, start));
      if (stop > at) at = stop;
    }
    return free;
  }

  /** First free aligned block of `length`: the first free CIDR at most that long, cut to `length`. */
  firstFree(parent: StoredPrefix, length: number, taken: Ipv6Prefix[]): Ipv6Prefix | null {
    const block = this.freeCidrs(parent, taken).find((c) => c.length <= length);
    return block ? { network: block.network, length } : null;
  }

  /** Validates writable fields (create, available-prefixes, PATCH); returns them in stored form. */
  writable(body: Record<string, unknown>, base?: StoredPrefix): Partial<StoredPrefix> {
    const errors: Record<string, unknown> = {};
    const out: Partial<StoredPrefix> = {};
    if ('status' in body) {
      if (STATUSES.includes(body.status as (typeof STATUSES)[number])) out.status = body.status as string;
      else errors.status = [`"${String(body.status)}" is not a valid choice.`];
    }
    if ('description' in body) {
      if (typeof body.description !== 'string') errors.description = ['Not a valid string.'];
      else if (body.description.length > 200) errors.description = ['Ensure this field has no more than 200 characters.'];
      else out.description = body.description;
    }
    if ('comments' in body && typeof body.comments === 'string') out.comments = body.comments;
    if ('tags' in body) {
      const list = Array.isArray(body.tags) ? (body.tags as Array<Record<string, unknown>>) : [];
      const slugs = list.map((t) => String(t?.slug ?? t?.name ?? ''));
      const unknown = list.filter((_, i) => !this.tags.has(slugs[i] ?? ''));
      if (unknown.length > 0) {
        errors.tags = unknown.map((t) => `Related object not found using the provided attributes: ${JSON.stringify(t)}`);
      } else out.tags = slugs;
    }
    if ('vrf' in body) {
      const v = body.vrf;
      const id = typeof v === 'number' ? v : v && typeof v === 'object' ? Number((v as { id?: unknown }).id) : null;
      if (id !== null && !this.vrfs.has(id)) errors.vrf = [`Related object not found using the provided attributes: ${JSON.stringify(v)}`];
      else out.vrfId = id;
    }
    if ('custom_fields' in body) {
      const cf = (body.custom_fields ?? {}) as Record<string, unknown>;
      const bad = Object.keys(cf).filter((k) => !this.customFields.includes(k));
      const nonText = Object.entries(cf).filter(([, v]) => v !== null && typeof v !== 'string');
      if (bad.length > 0) errors.custom_fields = bad.map((k) => `Unknown field name '${k}' in custom field data.`);
      else if (nonText.length > 0) errors.custom_fields = nonText.map(([k]) => `Invalid value for custom field '${k}': Value must be a string`);
      // Partial updates keep the custom fields they do not name.
      else out.customFields = { ...(base?.customFields ?? {}), ...cf };
    }
    if (Object.keys(errors).length > 0) throw new FieldErrors(errors);
    return out;
  }
}

/** NetBox's `within` lookup (strictly inside); `within_include` also matches the prefix itself. */
function within(outer: Ipv6Prefix, inner: Ipv6Prefix, strict = true): boolean {
  return contains(outer, inner) && !(strict && inner.length === outer.length);
}

/** First address after the prefix (exclusive end). */
function end(c: Ipv6Prefix): bigint {
  return lastAddress(c) + 1n;
}

/** Splits [from, to) into the fewest aligned CIDRs. */
function rangeToCidrs(from: bigint, to: bigint): Ipv6Prefix[] {
  const out: Ipv6Prefix[] = [];
  for (let at = from; at < to; ) {
    let size = at === 0n ? 1n << 128n : at & -at;
    while (at + size > to) size >>= 1n;
    out.push({ network: at, length: 128 - (size.toString(2).length - 1) });
    at += size;
  }
  return out;
}
