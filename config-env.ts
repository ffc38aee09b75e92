// The secrets a configuration names by environment variable, checked against the environment
// (config.ts's parseConfig with `env`: --check-config and the start).

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Bearer tokens shorter than this are refused: a short token is guessable. */
const MIN_TOKEN_LENGTH = 16;

// Named when found instead of postgres://; any other "scheme" may be the head of a password set
// there by mistake ("pass:word" parses as a URL): test/review15 secrets-store-url-scheme.
const KNOWN_SCHEMES = new Set(['mysql:', 'mariadb:', 'http:', 'https:', 'file:', 'sqlite:', 'redis:', 'mongodb:', 'jdbc:']);

/** Why a store URL is none PostgreSQL takes (never quoting it: it holds a password), or null. */
function notPostgresUrl(v: string): string | null {
  const protocol = URL.canParse(v) ? new URL(v).protocol : null;
  if (protocol === 'postgres:' || protocol === 'postgresql:') return null;
  const what = protocol && KNOWN_SCHEMES.has(protocol) ? `a ${protocol}// URL` : protocol ? 'a value that is not a postgres:// URL' : 'no URL';
  return `holds ${what}; want postgres://user@host:port/database`;
}

// Every environment variable the configuration names for a secret must be set, so a typo stops
// --check-config and start-up instead of the first revocation. Runs on the raw input too (when the
// schema failed), so it reads defensively and applies the documented defaults itself.
export function environmentIssues(value: unknown, env: NodeJS.ProcessEnv): string[] {
  if (!isObject(value)) return [];
  const issues: string[] = [];
  const get = (o: unknown, key: string): unknown => (isObject(o) ? o[key] : undefined);
  const required = (path: string, name: unknown, minLength = 1, problem: (v: string) => string | null = () => null) => {
    if (typeof name !== 'string') return;
    const v = env[name];
    if (v === undefined || v === '') issues.push(`  ${path}: environment variable ${name} is not set`);
    else if (v.length < minLength) issues.push(`  ${path}: the token in ${name} is ${v.length} characters; at least ${minLength} are needed`);
    else if (problem(v)) issues.push(`  ${path}: environment variable ${name} ${problem(v)}`);
  };
  const api = value.api;
  // Unset, the API token is generated for the run (documented); set, it must be long enough.
  const apiTokenEnv = get(api, 'token_env') ?? 'IPV6_LIFECYCLE_API_TOKEN';
  if (typeof apiTokenEnv === 'string' && env[apiTokenEnv]) required('api.token_env', apiTokenEnv, MIN_TOKEN_LENGTH);
  required('api.metrics_token_env', get(api, 'metrics_token_env'), MIN_TOKEN_LENGTH);
  if (isObject(value.netbox)) required('netbox.token_env', get(value.netbox, 'token_env') ?? 'NETBOX_TOKEN');
  if (get(value.store, 'backend') === 'postgresql') required('store.url_env', get(value.store, 'url_env') ?? 'IPV6_LIFECYCLE_DATABASE_URL', 1, notPostgresUrl);
  const sql = get(value.radius, 'sql');
  required('radius.sql.password_env', get(sql, 'password_env'));
  required('radius.sql.url_env', get(sql, 'url_env'));
  const da = get(value.radius, 'dynamic_authorization');
  required('radius.dynamic_authorization.default_secret_env', get(da, 'default_secret_env'));
  const nas = get(da, 'nas');
  if (Array.isArray(nas)) nas.forEach((n, i) => required(`radius.dynamic_authorization.nas.${i}.secret_env`, get(n, 'secret_env')));
  required('genieacs.username_env', get(value.genieacs, 'username_env'));
  required('genieacs.password_env', get(value.genieacs, 'password_env'));
  return issues;
}
