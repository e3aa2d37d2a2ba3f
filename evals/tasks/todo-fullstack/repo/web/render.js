// The todo page: turns GET /todos's JSON into the list's HTML.

function escape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function render(payload) {
  const items = payload.todos.map((todo) => `<li>${escape(todo.title)}</li>`);
  return `<ul>${items.join("")}</ul>`;
}

module.exports = { render };
