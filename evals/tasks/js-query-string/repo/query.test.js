import test from "node:test";
import assert from "node:assert/strict";
import { buildQuery } from "./query.js";

test("keys in order, values encoded", () => {
  assert.equal(buildQuery({ q: "a b", page: 2 }), "q=a%20b&page=2");
});

test("null and undefined values are left out", () => {
  assert.equal(buildQuery({ q: "x", page: null, sort: undefined }), "q=x");
});

test("no params, empty string", () => {
  assert.equal(buildQuery({}), "");
});
