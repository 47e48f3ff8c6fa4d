// A rule's filters (Gateway API HTTPRouteFilter) compiled apart by kind, the way the sidecar applies
// them: header modifiers before the call and on the response, a redirect answered without calling
// anything, a rewrite of host and path, mirrors fired and forgotten. Schema validation has already
// refused unknown filter types, ExtensionRef, and a URLRewrite combined with a RequestRedirect.
import type { HeaderModifierSpec, HttpHeaderFilter, HttpPathModifier, HttpRouteFilter, PathModifierSpec, RouteFiltersSpec } from '../../api/types.ts';
import { resolveBackendRef } from './backends.ts';
import type { PortsOf } from './stored-route.ts';

/** The spec's default RequestRedirect status code. */
export const DEFAULT_REDIRECT_STATUS = 302;

function headerModifier(f: HttpHeaderFilter): HeaderModifierSpec {
  const out: HeaderModifierSpec = {};
  if (f.set?.length) out.set = f.set.map((h) => ({ name: h.name, value: h.value }));
  if (f.add?.length) out.add = f.add.map((h) => ({ name: h.name, value: h.value }));
  if (f.remove?.length) out.remove = [...f.remove];
  return out;
}

/** The wire keeps one `value`; the Gateway API names it after the type. */
function pathModifier(p: HttpPathModifier): PathModifierSpec {
  return { type: p.type, value: (p.type === 'ReplaceFullPath' ? p.replaceFullPath : p.replacePrefixMatch) ?? '' };
}

/** percent, else fraction (numerator / denominator, denominator default 100), else 100 (spec). */
export function mirrorPercent(m: NonNullable<HttpRouteFilter['requestMirror']>): number {
  if (m.percent !== undefined) return m.percent;
  if (m.fraction !== undefined) return (m.fraction.numerator / (m.fraction.denominator ?? 100)) * 100;
  return 100;
}

/**
 * The filters of one rule. A filter type given twice (other than RequestMirror, which the spec lets
 * repeat) keeps the first: the schema should refuse the repeat. A mirror whose backendRef cannot be
 * resolved is dropped with a warning: the spec says an invalid mirror is not configured, and a mirror
 * must never fail the real call.
 */
export function compileFilters(filters: readonly HttpRouteFilter[] | undefined, namespace: string, portsOf: PortsOf, warn: (why: string) => void): RouteFiltersSpec | undefined {
  if (!filters?.length) return undefined;
  const out: RouteFiltersSpec = {};
  for (const f of filters) {
    if (f.type === 'RequestHeaderModifier' && f.requestHeaderModifier && !out.requestHeaders) out.requestHeaders = headerModifier(f.requestHeaderModifier);
    else if (f.type === 'ResponseHeaderModifier' && f.responseHeaderModifier && !out.responseHeaders) out.responseHeaders = headerModifier(f.responseHeaderModifier);
    else if (f.type === 'RequestRedirect' && f.requestRedirect && !out.redirect) {
      const r = f.requestRedirect;
      out.redirect = {
        ...(r.scheme !== undefined ? { scheme: r.scheme } : {}),
        ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
        ...(r.path !== undefined ? { path: pathModifier(r.path) } : {}),
        ...(r.port !== undefined ? { port: r.port } : {}),
        statusCode: r.statusCode ?? DEFAULT_REDIRECT_STATUS,
      };
    } else if (f.type === 'URLRewrite' && f.urlRewrite && !out.rewrite) {
      const w = f.urlRewrite;
      out.rewrite = { ...(w.hostname !== undefined ? { hostname: w.hostname } : {}), ...(w.path !== undefined ? { path: pathModifier(w.path) } : {}) };
    } else if (f.type === 'RequestMirror' && f.requestMirror) {
      const r = resolveBackendRef(f.requestMirror.backendRef, namespace, portsOf);
      if (!r.ok) {
        warn(`RequestMirror ${r.why}; not mirrored`);
        continue;
      }
      const { service, namespace: ns, port } = r.backend;
      (out.mirror ??= []).push({ service, namespace: ns, ...(port === undefined ? {} : { port }), percent: mirrorPercent(f.requestMirror) });
    }
  }
  // Key order fixed by the wire type, not by the order the user wrote the filters in.
  const ordered: RouteFiltersSpec = {};
  if (out.requestHeaders) ordered.requestHeaders = out.requestHeaders;
  if (out.responseHeaders) ordered.responseHeaders = out.responseHeaders;
  if (out.redirect) ordered.redirect = out.redirect;
  if (out.rewrite) ordered.rewrite = out.rewrite;
  if (out.mirror) ordered.mirror = out.mirror;
  return Object.keys(ordered).length ? ordered : undefined;
}
