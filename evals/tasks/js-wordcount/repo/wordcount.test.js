"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { countWords, topWords } = require("./wordcount.js");

test("counts words separated by single spaces", () => {
  assert.equal(countWords("the quick brown fox"), 4);
});

test("an empty text has no words", () => {
  assert.equal(countWords(""), 0);
});

test("top words are case-insensitive, most used first", () => {
  assert.deepEqual(topWords("The cat saw the dog", 2), [["the", 2], ["cat", 1]]);
});
