const test = require("node:test");
const assert = require("node:assert");
const { render } = require("./render.js");

test("lists the titles in order", () => {
  const html = render({ todos: [{ title: "Milk" }, { title: "Eggs" }] });
  assert.strictEqual(html, "<ul><li>Milk</li><li>Eggs</li></ul>");
});

test("escapes titles", () => {
  assert.match(render({ todos: [{ title: "<b>" }] }), /&lt;b&gt;/);
});
