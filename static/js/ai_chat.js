// The AI chat page: send the request to the session API asking for server-sent events,
// write the answer's words as they arrive, then swap in the finished answer as the
// console renders it (plan diff, risk, link, counters). No inline script: the
// Content-Security-Policy allows none.
(function () {
  var form = document.getElementById("ai-form");
  if (!form || !window.fetch || !window.ReadableStream) {
    return; // The form posts to the page and the answer comes whole.
  }
  var log = document.getElementById("ai-log");
  var status = document.getElementById("ai-status");
  var send = document.getElementById("ai-send");
  var textarea = document.getElementById("ai-text");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function bubble(role, text) {
    var empty = document.getElementById("ai-empty");
    if (empty) { empty.remove(); }
    var article = document.createElement("article");
    article.className = "ai-message ai-" + role;
    var content = document.createElement("div");
    content.className = "ai-content";
    content.textContent = text;
    article.appendChild(content);
    log.appendChild(article);
    return article;
  }

  function counters(session) {
    if (!session) { return; }
    Object.keys(session).forEach(function (name) {
      var node = document.querySelector("[data-counter=" + name + "]");
      if (node) { node.textContent = session[name]; }
    });
  }

  function replaceWithRendered(article, messageId) {
    var url = form.dataset.messageUrl.replace(/\/0\/$/, "/" + messageId + "/");
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;
        article.replaceWith(holder.firstElementChild);
      });
  }

  function handle(name, data, state) {
    if (name === "delta") {
      state.content.textContent += data.text;
    } else if (name === "plan") {
      status.textContent = "Plan " + data.plan_id + " proposed (" + data.status + ").";
    } else if (name === "usage") {
      counters(data.session);
    } else if (name === "error") {
      status.textContent = data.message || (data.error && data.error.message) || "The request failed.";
    } else if (name === "done") {
      state.done = data;
    }
  }

  form.addEventListener("submit", function (event) {
    var text = textarea.value.trim();
    if (!text) { return; }
    event.preventDefault();
    send.disabled = true;
    status.textContent = "Thinking…";
    bubble("user", text);
    var answer = bubble("assistant", "");
    var state = { content: answer.querySelector(".ai-content"), done: null };
    textarea.value = "";
    fetch(form.dataset.streamUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRFToken": csrf },
      body: JSON.stringify({ text: text })
    }).then(function (response) {
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var frames = buffer.split("\n\n");
          buffer = frames.pop();
          frames.forEach(function (frame) {
            var name = null, data = null;
            frame.split("\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) { name = line.slice(7); }
              if (line.indexOf("data: ") === 0) { data = JSON.parse(line.slice(6)); }
            });
            if (name) { handle(name, data, state); }
          });
          return pump();
        });
      }
      return pump();
    }).then(function () {
      if (state.done) {
        if (status.textContent === "Thinking…") { status.textContent = ""; }
        return replaceWithRendered(answer, state.done.message_id);
      }
    }).catch(function () {
      status.textContent = "The connection was lost; reload the page to see the answer.";
    }).finally(function () {
      send.disabled = false;
      textarea.focus();
    });
  });
})();
