// Query strings for the dashboard's links and API calls.

/** `params` as a query string, keys in the order given: {q: "a b", page: 2} -> "q=a%20b&page=2".
 * A key whose value is null or undefined is left out. */
export function buildQuery(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.join("&");
}
