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
