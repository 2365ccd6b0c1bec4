// Time-zone fields: pre-fill the sign-up form's zone with the browser's own, and a
// "Find a city" box that narrows the select as one types (no data leaves the page).
// Without JavaScript the select still works: its labels start with the city.
(function () {
  var select = document.getElementById("timezone");
  if (!select) return;
  if (select.getAttribute("data-auto") === "1") {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }
    // Browsers may report a zone by an older name (Chromium: Asia/Calcutta); options list
    // the names tzdata links to them.
    for (var i = 0; zone && i < select.options.length; i++) {
      var o = select.options[i];
      var other = (o.getAttribute("data-aliases") || "").split(" ");
      if (o.value === zone || other.indexOf(zone) >= 0) { select.selectedIndex = i; break; }
    }
  }
  var filter = document.getElementById("timezone-filter");
  if (!filter) return;
  filter.hidden = false;
  var chosen = select.value;
  select.addEventListener("change", function () { if (!filter.value.trim()) chosen = select.value; });
  function norm(s) { return s.toLowerCase().replace(/_/g, " "); }
  filter.addEventListener("input", function () {
    var wanted = norm(filter.value.trim());
    var first = null;
    var groups = select.getElementsByTagName("optgroup");
    for (var g = 0; g < groups.length; g++) {
      var shown = 0, options = groups[g].getElementsByTagName("option");
      for (var j = 0; j < options.length; j++) {
        var o = options[j];
        var hit = !wanted || norm(o.text).indexOf(wanted) >= 0 || norm(o.value).indexOf(wanted) >= 0;
        o.hidden = !hit;
        if (hit) { shown++; if (!first) first = o; }
      }
      groups[g].hidden = shown === 0;
    }
    // The first match becomes the choice; an empty box puts back what was chosen.
    if (wanted && first) first.selected = true;
    else if (!wanted) select.value = chosen;
  });
})();
