// HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
const test = require("node:test");
const assert = require("node:assert");
const { render } = require("./render.js");

test("done todos are marked and the count closes the list", () => {
  const html = render({
    todos: [
      { title: "Milk", done: true },
      { title: "Eggs", done: false },
    ],
    left: 1,
  });
  assert.strictEqual(
    html,
    '<ul><li class="done">Milk</li><li>Eggs</li></ul><p class="left">1 left</p>',
  );
});

test("nothing left says 0 left", () => {
  const html = render({ todos: [{ title: "Milk", done: true }], left: 0 });
  assert.ok(html.endsWith('<p class="left">0 left</p>'), html);
});
