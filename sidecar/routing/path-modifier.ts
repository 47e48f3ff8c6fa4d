// Gateway API HTTPPathModifier, shared by URLRewrite and RequestRedirect: ReplaceFullPath sets the
// whole path; ReplacePrefixMatch replaces the PathPrefix the rule matched by (element-wise, so
// "/foo" -> "/bar" turns "/foo/x" into "/bar/x" and "/foo" into "/bar"). The query string is kept.
import type { PathModifierSpec } from '../../api/types.ts';

export function modifyPath(modifier: PathModifierSpec, pathAndQuery: string, matchedPrefix: string | undefined): string {
  const q = pathAndQuery.indexOf('?');
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q);
  if (modifier.type === 'ReplaceFullPath') return modifier.value + query;
  const prefix = matchedPrefix ?? '';
  let rest = path.slice(prefix.length);
  const replacement = modifier.value.replace(/\/+$/, '');
  if (replacement === '' && rest === '') rest = '/';
  else if (replacement === '' && !rest.startsWith('/')) rest = `/${rest}`;
  return replacement + rest + query;
}
