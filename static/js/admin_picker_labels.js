// The admin's autocomplete pickers (select2) put a search box inside a multiple choice
// without a label. Name each after its choice's label, as it appears, so that every
// control of the admin is labelled (issue 15's acceptance).
(function () {
  "use strict";

  function name(box) {
    if (box.getAttribute("aria-label")) return;
    const container = box.closest(".select2-container");
    const select = container && container.previousElementSibling;
    const label = select && select.labels && select.labels[0];
    box.setAttribute("aria-label", label ? label.textContent.replace(/:\s*$/, "").trim() : "Search");
  }

  function nameAll(root) {
    root.querySelectorAll(".select2-search__field").forEach(name);
  }

  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (node.nodeType === 1) {
          if (node.matches(".select2-search__field")) name(node);
          else nameAll(node);
        }
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
