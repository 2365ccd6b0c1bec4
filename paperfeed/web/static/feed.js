// paperfeed: the feed page's Copy button (templates/feed.html.j2); without it the address is
// a read-only field to select and copy.
(function () {
  "use strict";
  var input = document.getElementById("feed-url");
  var button = document.getElementById("copy-feed-url");
  var status = document.getElementById("copy-status");
  if (!input || !button) return;
  input.addEventListener("focus", function () { input.select(); });
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(input.value).then(
      function () { status.textContent = "Copied. Paste it into your feed reader."; },
      function () { input.select(); status.textContent = "Select the address and copy it."; }
    );
  });
})();
