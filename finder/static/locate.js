// "Use my location": progressive enhancement of the search form. Without JavaScript the
// button stays hidden and the postcode field does the job.
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var postcode = document.getElementById("postcode");
  var status = document.getElementById("locate-status");
  if (!lat || !lon || !postcode) {
    return;
  }
  // Typing a postcode means the user no longer wants their device's position (the server
  // also prefers a typed place, for browsers without JavaScript).
  postcode.addEventListener("input", function () {
    lat.value = "";
    lon.value = "";
    postcode.required = true;
  });
  if (!button || !("geolocation" in navigator)) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(function (position) {
      lat.value = position.coords.latitude.toFixed(5);
      lon.value = position.coords.longitude.toFixed(5);
      postcode.value = "";
      postcode.required = false;
      status.textContent = "Using your location.";
      button.form.requestSubmit();
    }, function (error) {
      status.textContent = "Your location is not available (" + error.message +
        "). Type a ZIP or postcode instead.";
      postcode.focus();
    }, {timeout: 10000, maximumAge: 600000});
  });
})();
