// HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { countWords, topWords } = require("./wordcount.js");

test("hidden: runs of spaces separate words once", () => {
  assert.equal(countWords("alpha  beta"), 2);
  assert.equal(countWords("a    b c"), 3);
});

test("hidden: line breaks and tabs separate words", () => {
  assert.equal(countWords("red\ngreen\nblue"), 3);
  assert.equal(countWords("one\ttwo\r\nthree"), 3);
  assert.equal(countWords("end of line\n"), 3);
});

test("hidden: whitespace alone holds no word", () => {
  assert.equal(countWords(""), 0);
  assert.equal(countWords("   "), 0);
  assert.equal(countWords("\n\t \n"), 0);
  assert.equal(countWords("  padded  "), 1);
});

test("hidden: top words ignore whitespace runs", () => {
  assert.deepEqual(topWords("x  y  x", 1), [["x", 2]]);
  assert.deepEqual(topWords("Go\ngo\tstop  go", 2), [["go", 3], ["stop", 1]]);
  assert.deepEqual(topWords(" \n ", 3), []);
});
