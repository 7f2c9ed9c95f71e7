// The address-plan tree: keyboard navigation (the WAI-ARIA tree pattern), lazy loading of
// children and a bounded "expand all". No inline handlers: the Content-Security-Policy
// allows none, so every behaviour hangs on delegated listeners and data attributes.
//
// Markup (templates/pools/pool_tree_node.html): ul[role=tree] holds li[role=treeitem]
// with aria-level and, for pools with children, aria-expanded and a ul[role=group]
// whose data-url serves its children (an htmx partial). "more" and "earlier" rows are
// tree items too, so the keyboard reaches them; Enter activates their button.
(function () {
  "use strict";

  var ITEM = '[role="treeitem"]';

  function treeOf(element) {
    return element.closest('[role="tree"]');
  }

  function groupOf(item) {
    return item.querySelector(':scope > [role="group"]');
  }

  // The tree items a sighted user sees, in document order: none inside a closed group.
  function visibleItems(tree) {
    return Array.prototype.filter.call(tree.querySelectorAll(ITEM), function (item) {
      return !item.parentElement.closest('[role="group"][hidden]');
    });
  }

  function parentItem(item) {
    var group = item.parentElement.closest('[role="group"]');
    return group ? group.closest(ITEM) : null;
  }

  // One tab stop per tree: the item that last had the focus.
  function makeTabStop(item) {
    var tree = treeOf(item);
    tree.querySelectorAll(ITEM + '[tabindex="0"]').forEach(function (other) {
      other.setAttribute("tabindex", "-1");
    });
    item.setAttribute("tabindex", "0");
  }

  function focusItem(item) {
    if (!item) {
      return;
    }
    makeTabStop(item);
    item.focus();
  }

  function load(group, url) {
    group.setAttribute("data-loaded", "");
    group.setAttribute("aria-busy", "true");
    group.innerHTML = '<li class="tree-loading muted" role="none">Loading…</li>';
    return htmx.ajax("GET", url, { target: group, swap: "innerHTML" }).then(function () {
      group.removeAttribute("aria-busy");
    });
  }

  function expand(item) {
    var group = groupOf(item);
    if (!group) {
      return;
    }
    item.setAttribute("aria-expanded", "true");
    group.hidden = false;
    if (!group.hasAttribute("data-loaded")) {
      load(group, group.dataset.url);
    }
  }

  function collapse(item) {
    var group = groupOf(item);
    if (group) {
      item.setAttribute("aria-expanded", "false");
      group.hidden = true;
    }
  }

  // The subtree breadth first, as far as the server's bound goes; it says what remains.
  function expandAll(item) {
    var group = groupOf(item);
    if (!group) {
      return;
    }
    item.setAttribute("aria-expanded", "true");
    group.hidden = false;
    load(group, group.dataset.url + "?expand=all");
  }

  // After a "more" or "earlier" row is replaced by the page it loads, the focus goes to
  // the item now at its place.
  var pendingFocus = null;

  function activate(item) {
    var button = item.querySelector(":scope > button");
    if (button) {
      var siblings = Array.prototype.filter.call(item.parentElement.children, function (child) {
        return child.matches(ITEM);
      });
      var index = siblings.indexOf(item);
      // An "earlier" page lands above the row: the focus goes to its last pool, the one
      // just before the item that followed the row.
      var after = item.classList.contains("tree-earlier") ? siblings[index + 1] : null;
      pendingFocus = { group: item.parentElement, index: index, after: after };
      var url = button.getAttribute("hx-get");
      if (url) {
        // Focus once the page of items has landed: htmx's promise settles after the swap,
        // which the document's htmx:load listener does not always see for a detached row.
        htmx.ajax("GET", url, { target: item, swap: "outerHTML" }).then(afterSwap);
      } else {
        button.click();
      }
      return;
    }
    var link = item.querySelector(":scope > .tree-row .tree-cidr");
    if (link) {
      window.location.assign(link.href);
    }
  }

  function firstChild(item) {
    var group = groupOf(item);
    return group && !group.hidden ? group.querySelector(":scope > " + ITEM) : null;
  }

  document.addEventListener("keydown", function (event) {
    var item = event.target;
    if (!item.matches || !item.matches(ITEM) || !treeOf(item)) {
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var items = visibleItems(treeOf(item));
    var index = items.indexOf(item);
    var expanded = item.getAttribute("aria-expanded");
    switch (event.key) {
      case "ArrowDown":
        focusItem(items[index + 1]);
        break;
      case "ArrowUp":
        focusItem(items[index - 1]);
        break;
      case "ArrowRight":
        if (expanded === "false") {
          expand(item);
        } else if (expanded === "true") {
          focusItem(firstChild(item));
        }
        break;
      case "ArrowLeft":
        if (expanded === "true") {
          collapse(item);
        } else {
          focusItem(parentItem(item));
        }
        break;
      case "Home":
        focusItem(items[0]);
        break;
      case "End":
        focusItem(items[items.length - 1]);
        break;
      case "Enter":
        activate(item);
        break;
      case "*":
        expandAll(item);
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var item = event.target.closest(ITEM);
    if (!item || !treeOf(item)) {
      return;
    }
    if (event.target.closest("[data-expand-all]")) {
      focusItem(item);
      expandAll(item);
      return;
    }
    if (event.target.closest("a, button") || !event.target.closest(".tree-row")) {
      makeTabStop(item);
      return;
    }
    // A click on the row outside its links opens or closes the node.
    focusItem(item);
    if (item.getAttribute("aria-expanded") === "false") {
      expand(item);
    } else if (item.getAttribute("aria-expanded") === "true") {
      collapse(item);
    }
  });

  // Keep one tab stop per tree: on load (the pool the tree was opened at, else the first
  // item) and after a swap removed the item that held it.
  function ensureTabStops() {
    document.querySelectorAll('[role="tree"]').forEach(function (tree) {
      if (tree.querySelector(ITEM + '[tabindex="0"]')) {
        return;
      }
      var start = tree.querySelector(ITEM + '[aria-current]') || tree.querySelector(ITEM);
      if (start) {
        start.setAttribute("tabindex", "0");
      }
    });
  }

  function afterSwap() {
    if (pendingFocus) {
      var group = pendingFocus.group;
      var siblings = Array.prototype.filter.call(group.children, function (child) {
        return child.matches(ITEM);
      });
      var target = siblings[Math.min(pendingFocus.index, siblings.length - 1)];
      if (pendingFocus.after && pendingFocus.after.isConnected) {
        target = siblings[siblings.indexOf(pendingFocus.after) - 1] || target;
      }
      pendingFocus = null;
      if (target) {
        focusItem(target);
      }
    }
    ensureTabStops();
  }

  // An outerHTML swap detaches the element htmx fired its request from, so the swap's
  // own events may not reach the document; "htmx:load" fires on each new element, in
  // the page. The work waits for the whole page of items to land.
  var scheduled = false;
  document.addEventListener("htmx:load", function () {
    if (!scheduled) {
      scheduled = true;
      window.setTimeout(function () {
        scheduled = false;
        afterSwap();
      }, 0);
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ensureTabStops);
  } else {
    ensureTabStops();
  }
})();
