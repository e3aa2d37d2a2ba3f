// HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import test from "node:test";
import assert from "node:assert/strict";
import { buildQuery } from "./query.js";

test("hidden: scalars work as before, with or without options", () => {
  assert.equal(buildQuery({ q: "fish & chips", n: 3 }), "q=fish%20%26%20chips&n=3");
  assert.equal(buildQuery({ q: "x", skip: null }, { arrayFormat: "comma" }), "q=x");
  assert.equal(buildQuery({}), "");
});

test("hidden: arrays repeat the key by default", () => {
  assert.equal(buildQuery({ id: [1, 2, 3] }), "id=1&id=2&id=3");
  assert.equal(buildQuery({ id: ["a b", "c"] }, {}), "id=a%20b&id=c");
  assert.equal(buildQuery({ k: ["v"], z: 0 }, { arrayFormat: "repeat" }), "k=v&z=0");
});

test("hidden: brackets format keeps the brackets plain", () => {
  assert.equal(
    buildQuery({ size: ["S", "XL"], page: 1 }, { arrayFormat: "brackets" }),
    "size[]=S&size[]=XL&page=1",
  );
});

test("hidden: comma format encodes values and joins with a plain comma", () => {
  assert.equal(buildQuery({ c: ["a,b", "d e"] }, { arrayFormat: "comma" }), "c=a%2Cb,d%20e");
  assert.equal(buildQuery({ c: ["x", "y"] }, { arrayFormat: "comma" }), "c=x,y");
});

test("hidden: an empty array leaves its key out", () => {
  assert.equal(buildQuery({ a: [], b: 1 }), "b=1");
  assert.equal(buildQuery({ a: [], b: 1 }, { arrayFormat: "comma" }), "b=1");
  assert.equal(buildQuery({ a: [] }, { arrayFormat: "brackets" }), "");
});

test("hidden: an unknown format is a TypeError", () => {
  assert.throws(() => buildQuery({ a: [1] }, { arrayFormat: "json" }), TypeError);
  assert.throws(() => buildQuery({ a: 1 }, { arrayFormat: "Comma" }), TypeError);
});
