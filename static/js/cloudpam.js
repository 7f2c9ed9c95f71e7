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
