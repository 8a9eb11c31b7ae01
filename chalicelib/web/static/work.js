// The workbench's only script: a form sends once (its button waits until the page answers), and a
// refusal takes the keyboard focus so it is read out and seen first. Pages work without it.
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  if (form.dataset.sent === "1") { ev.preventDefault(); return; }
  form.dataset.sent = "1";
  var button = form.querySelector("button[type=submit]");
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
});
document.addEventListener("DOMContentLoaded", function () {
  var refusal = document.getElementById("refusal");
  if (refusal) { refusal.focus(); }
});
