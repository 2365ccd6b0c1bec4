// Pre-fill the sign-up form's time zone with the browser's own (no data leaves the page).
(function () {
  var select = document.getElementById("timezone");
  if (!select || select.getAttribute("data-auto") !== "1") return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.selectedIndex = i; return; }
  }
})();
