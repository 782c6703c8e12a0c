// The placement map of the clinic form: a click (or a tap) moves the pin there and writes its
// coordinates into the latitude and longitude fields. Without JavaScript the fields are typed.
(function () {
  "use strict";
  var svg = document.querySelector("svg[data-frame]");
  var lat = document.getElementById("latitude");
  var lon = document.getElementById("longitude");
  if (!svg || !lat || !lon) {
    return;
  }
  var frame = JSON.parse(svg.getAttribute("data-frame"));
  var marker = svg.querySelector(".map-pin");
  var box = svg.viewBox.baseVal;
  var KM_PER_DEGREE = 111.32;
  var TILE = 256;

  // The inverse of the server's projection (maps.py): the view's units back to the ground.
  function ground(x, y) {
    var east = (x - box.width / 2) / frame.scale + frame.mid_x;
    var north = -(y - box.height / 2) / frame.scale + frame.mid_y;
    if (frame.mercator) {
      var wx = frame.world_x + east, wy = frame.world_y - north;
      var n = Math.PI - 2 * Math.PI * wy / TILE;
      return [180 / Math.PI * Math.atan(Math.sinh(n)), wx / TILE * 360 - 180];
    }
    // Kilometres east and north of the centre; at street scale the plane is exact enough.
    var latitude = frame.lat + north / KM_PER_DEGREE;
    return [latitude, frame.lon + east / (KM_PER_DEGREE * Math.cos(frame.lat * Math.PI / 180))];
  }

  svg.addEventListener("click", function (event) {
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var local = point.matrixTransform(svg.getScreenCTM().inverse());
    var place = ground(local.x, local.y);
    lat.value = place[0].toFixed(6);
    lon.value = place[1].toFixed(6);
    if (marker) {
      var x = marker.getAttribute("data-x"), y = marker.getAttribute("data-y");
      marker.setAttribute("transform", "translate(" + (local.x - x) + " " + (local.y - y) + ")");
    }
    var said = document.getElementById("pin-moved");
    if (said) {
      said.textContent = "Pin moved to " + lat.value + ", " + lon.value +
        ". Press “Check the address” to see it placed, or send.";
    }
  });
})();
