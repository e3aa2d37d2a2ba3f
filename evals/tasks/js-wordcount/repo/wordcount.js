"use strict";
// Word counts for the editor's status bar and the "most used words" panel.

function words(text) {
  return text.split(" ");
}

/** How many words `text` holds; an empty text holds none. */
function countWords(text) {
  if (text === "") return 0;
  return words(text).length;
}

/** The `n` most used words (lower case) as [word, count], most used first, ties by word. */
function topWords(text, n) {
  const counts = new Map();
  for (const word of words(text)) {
    const key = word.toLowerCase();
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n);
}

module.exports = { countWords, topWords };
