// The alerts page: listen for new hits (server-sent events), add each one's card, chime unless
// muted. No inline scripts anywhere: the Content-Security-Policy allows this file only.
(function () {
  "use strict";
  var MUTE_KEY = "alpr.chime.muted";

  function muted() {
    return window.localStorage.getItem(MUTE_KEY) === "1";
  }

  function showMute(button) {
    var on = muted();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Unmute chime" : "Mute chime";
  }

  function chime() {
    var audio = document.getElementById("chime");
    if (!audio || muted()) { return; }
    audio.currentTime = 0;
    var played = audio.play();
    if (played && played.catch) { played.catch(function () { /* no sound before a click */ }); }
  }

  function addHit(section, id) {
    if (document.getElementById("hit-" + id)) { return; }
    window.htmx.ajax("GET", "/hits/" + id + "/card", { target: section, swap: "afterbegin" })
      .then(function () {
        var card = document.getElementById("hit-" + id);
        if (card) { card.classList.add("new"); }
        var none = document.getElementById("none");
        if (none) { none.remove(); }
        chime();
      });
  }

  function listen(section) {
    var source = new EventSource(section.getAttribute("data-stream"));
    source.addEventListener("hit", function (event) { addHit(section, event.data); });
    source.addEventListener("logout", function () {
      source.close();
      window.location.assign("/login?why=" + encodeURIComponent("the session ended: log in again"));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("mute");
    if (button) {
      showMute(button);
      button.addEventListener("click", function () {
        window.localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
        showMute(button);
      });
    }
    var section = document.getElementById("alerts");
    if (section && section.getAttribute("data-stream")) { listen(section); }
  });
})();
