// Small console behaviours; htmx does the partial updates.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.querySelector(".messages") || document.createElement("ul");
  box.className = "messages";
  box.setAttribute("role", "status");
  var item = document.createElement("li");
  item.className = "message error";
  item.textContent = "The request failed (" + event.detail.xhr.status + ").";
  box.appendChild(item);
  document.querySelector("main").prepend(box);
});

// Behaviours declared in markup with data attributes: the Content-Security-Policy
// allows no inline handlers (onsubmit=, onchange=...).
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  if (event.target.matches("select[data-autosubmit]")) {
    event.target.form.requestSubmit();
  }
});
document.addEventListener("focusin", function (event) {
  if (event.target.matches("input[data-select-on-focus]")) {
    event.target.select();
  }
});

// Pickers (templates/includes/picker.html): a text box whose matches htmx lists below it.
// Choosing one writes its reference into the box; the arrow keys move through the list,
// Escape closes it.
(function () {
  function parts(element) {
    var picker = element.closest("[data-picker]");
    return picker && {
      input: picker.querySelector("[data-picker-input]"),
      list: picker.querySelector(".picker-results"),
    };
  }
  function close(p) {
    p.list.innerHTML = "";
    p.input.setAttribute("aria-expanded", "false");
  }
  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-pick]");
    var p = option && parts(option);
    if (!p) return;
    p.input.value = option.dataset.pick;
    close(p);
    p.input.focus();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var p = parts(event.target);
    if (p) p.input.setAttribute("aria-expanded", p.list.children.length ? "true" : "false");
  });
  document.addEventListener("keydown", function (event) {
    var p = parts(event.target);
    if (!p) return;
    var options = Array.prototype.slice.call(p.list.querySelectorAll("[data-pick]"));
    var index = options.indexOf(event.target);
    if (event.key === "Escape") {
      close(p);
      p.input.focus();
    } else if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      options[Math.min(index + 1, options.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      (index === 0 ? p.input : options[index - 1]).focus();
    }
  });
})();

// Layout: the menu button of narrow screens, and indents given in markup (an inline
// style attribute would break the Content-Security-Policy; a style set from a script does not).
document.addEventListener("click", function (event) {
  var button = event.target.closest(".menu-toggle");
  if (button) {
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.closest(".topbar").classList.toggle("open", open);
  }
});
function applyIndents(root) {
  root.querySelectorAll("[data-indent]").forEach(function (element) {
    element.style.paddingLeft = (parseInt(element.dataset.indent, 10) || 0) + "em";
  });
}
document.addEventListener("DOMContentLoaded", function () { applyIndents(document); });
document.addEventListener("htmx:afterSwap", function (event) { applyIndents(event.target); });
