// Progressive enhancement only: every form works without this file.
// 1. Default the time zone from the browser on the subscribe form.
// 2. Show what the interests would match, as the subscriber types (via /api/preview).
(function () {
  "use strict";
  var zone = document.querySelector("select[data-guess]");
  if (zone) {
    var guess = "";
    try { guess = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { guess = ""; }
    for (var i = 0; i < zone.options.length; i++) {
      if (zone.options[i].value === guess) { zone.value = guess; break; }
    }
  }

  var interests = document.getElementById("interests");
  var region = document.getElementById("preview");
  if (!interests || !region || !window.fetch || !zone) { return; }
  var timer = null;
  var last = "";

  function show(papers) {
    region.textContent = "";
    var heading = document.createElement("h2");
    heading.textContent = papers.length ? "What these interests would have matched recently" : "Nothing matched recently";
    region.appendChild(heading);
    var list = document.createElement("ol");
    papers.forEach(function (paper) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = paper.url; link.rel = "noopener noreferrer"; link.textContent = paper.title;
      var why = document.createElement("span");
      why.className = "why"; why.textContent = paper.explanation;
      item.appendChild(link); item.appendChild(document.createElement("br")); item.appendChild(why);
      list.appendChild(item);
    });
    if (papers.length) { region.appendChild(list); }
  }

  function ask() {
    var text = interests.value.trim();
    if (!text || text === last) { return; }
    last = text;
    fetch("/api/preview", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ interests: text })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok) { show(answer.body.papers); }
      else { region.textContent = answer.body.detail || ""; }
    }).catch(function () { /* the preview is a nicety: stay quiet */ });
  }

  interests.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 600);
  });
})();
