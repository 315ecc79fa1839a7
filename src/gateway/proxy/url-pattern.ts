/**
 * A backend `url_pattern` compiled once: literal parts and `{param}` slots. Values are percent-encoded for the
 * part of the URL they land in, so a param can never inject a path segment or a query string.
 */
export interface CompiledUrlPattern {
  /** Path (and the pattern's own query, if any) with params filled in. */
  render(params: Readonly<Record<string, string>>): string;
  readonly params: readonly string[];
}

const PARAM = /\{([^{}]+)\}/g;

export function compileUrlPattern(pattern: string): CompiledUrlPattern {
  const queryStart = pattern.indexOf('?');
  const parts: Array<string | { name: string; inQuery: boolean }> = [];
  const params: string[] = [];
  let last = 0;
  for (const m of pattern.matchAll(PARAM)) {
    const index = m.index ?? 0;
    if (index > last) parts.push(pattern.slice(last, index));
    const name = m[1] as string;
    parts.push({ name, inQuery: queryStart >= 0 && index > queryStart });
    params.push(name);
    last = index + m[0].length;
  }
  if (last < pattern.length) parts.push(pattern.slice(last));
  if (params.length === 0) return { render: () => pattern, params };
  return {
    params,
    render(values) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
        } else {
          const v = values[part.name] ?? '';
          out += part.inQuery ? encodeURIComponent(v) : encodePathSegment(v);
        }
      }
      return out;
    },
  };
}

/** Like Go's url.PathEscape: keeps RFC 3986 sub-delims and `:@`, escapes `/`, `?`, `#` and the rest. */
export function encodePathSegment(value: string): string {
  return encodeURIComponent(value).replace(/%(?:24|26|2B|2C|3B|3D|3A|40)/gi, (e) => decodeURIComponent(e));
}
