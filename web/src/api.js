// The HTTP API (docs/http.md). getJson never throws and logs nothing: the
// callers decide what a 503 (no store yet) or an unreachable server means.

// GET `path` as JSON. Resolves to {ok: true, data} or {ok: false, status,
// error}; status 0 when the server could not be reached.
export async function getJson(path) {
  let res;
  try {
    res = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  } catch {
    return {ok: false, status: 0, error: 'server unreachable'};
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's error page, a cut connection): the status says enough.
  }
  if (res.ok && body) return {ok: true, data: body};
  return {ok: false, status: res.status, error: body?.error ?? `HTTP ${res.status}`};
}

// True when a failed answer means "no data yet, try again later" rather than
// a bug: the store does not exist yet (503) or the server is away (0).
export function isTransient(answer) {
  return !answer.ok && (answer.status === 0 || answer.status === 503);
}

// Query string of an object, skipping null/undefined values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null) q.set(k, v);
  return q.toString();
}
