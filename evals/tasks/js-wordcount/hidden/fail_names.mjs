// HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
// A reporter for `node --test` that names each failing test the way unittest does
// ("FAIL: name"), so the eval's reason for an unresolved task lists the failing tests.
import { inspect } from "node:util";

function why(error) {
  if (error && "expected" in error) {
    return `expected ${inspect(error.expected)}, got ${inspect(error.actual)}`;
  }
  return String(error?.message ?? error).split("\n")[0];
}

export default async function* failNames(source) {
  let passed = 0;
  let failed = 0;
  for await (const { type, data } of source) {
    if (type === "test:pass" && data.nesting === 0) passed += 1;
    if (type === "test:fail" && data.nesting === 0) {
      failed += 1;
      yield `FAIL: ${data.name} (${why(data.details?.error?.cause ?? data.details?.error)})\n`;
    }
  }
  yield `${passed + failed} tests: ${passed} passed, ${failed} failed\n`;
}
