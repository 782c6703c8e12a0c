// Maps: link each numbered pin with its result in the list, both ways. Progressive
// enhancement: without JavaScript the pins are still links to the results.
(function () {
  "use strict";
  var panel = document.getElementById("map-panel");
  // The map folds away on small screens so the list comes first; open it where it fits beside.
  if (panel && window.matchMedia("(min-width: 52rem)").matches) {
    panel.open = true;
  }
  var pins = document.querySelectorAll("a.map-pin");
  if (!pins.length) {
    return;
  }
  var pairs = [];
  Array.prototype.forEach.call(pins, function (pin) {
    var id = (pin.getAttribute("href") || "").replace(/^#/, "");
    var result = id && document.getElementById(id);
    if (result) {
      pairs.push({pin: pin, result: result});
    }
  });

  var chosen = null; // the pair last clicked stays highlighted when the pointer moves on

  function highlight(pair) {
    pairs.forEach(function (other) {
      other.pin.classList.toggle("is-active", other === pair);
      other.result.classList.toggle("is-active", other === pair);
    });
  }

  pairs.forEach(function (pair) {
    var show = function () { highlight(pair); };
    var hide = function () { highlight(chosen); };
    pair.pin.addEventListener("mouseenter", show);
    pair.pin.addEventListener("focus", show);
    pair.pin.addEventListener("mouseleave", hide);
    pair.pin.addEventListener("blur", hide);
    // The link itself scrolls to the result; keep the pair highlighted afterwards.
    pair.pin.addEventListener("click", function () {
      chosen = pair;
      show();
    });
    pair.result.addEventListener("mouseenter", show);
    pair.result.addEventListener("focusin", show);
    pair.result.addEventListener("mouseleave", hide);
    pair.result.addEventListener("focusout", hide);
  });
})();
