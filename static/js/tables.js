// The console tables: "select every row on this page".
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.classList || !box.classList.contains("select-all")) return;
  const table = box.closest("table");
  table.querySelectorAll('tbody input[type="checkbox"][name="pk"]').forEach((row) => {
    row.checked = box.checked;
  });
});
