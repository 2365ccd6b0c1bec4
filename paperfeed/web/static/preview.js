// Live preview on the preferences page: re-rank as the interests are typed (nothing is saved).
(function () {
  var box = document.getElementById("interests");
  var target = document.getElementById("preview");
  if (!box || !target || !box.getAttribute("data-preview-url") || !window.fetch) return;
  var url = box.getAttribute("data-preview-url");
  var timer = null, latest = 0;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var asked = ++latest;
      fetch(url + "?fragment=1&interests=" + encodeURIComponent(box.value), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && asked === latest) target.innerHTML = html; })
        .catch(function () {});
    }, 400);
  });
})();
