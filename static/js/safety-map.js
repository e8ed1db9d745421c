// The dashboard's map (issue #12): compounds drawn at their coordinates over the city's outline
// (static/geo/<city code>.geojson, shipped with the city: no tile server), coloured by their index
// band, with the open alerts of the last day as pulsing markers. Markers follow the alerts live:
// each message on /ws/live/ (only ids and codes) makes the map fetch its permission-checked data
// again, at most once a second, and tells the dashboard (event "safety:alerts-changed") so the
// alert counts by model follow. No inline script (CSP): the page's data-* attributes say where.
(function () {
  "use strict";
  var BAND_COLOURS = { blue: "#2f6fdf", yellow: "#e6b800", orange: "#f08c00", red: "#d9363e" };
  var NO_INDEX = "#9aa0a6";
  var SEVERITY_SIZE = { low: 12, medium: 16, high: 20, critical: 26 };
  var MAP_NAME = "safety-city";

  // ECharts puts a formatter's string into the tooltip as HTML: names typed by users are escaped.
  function escape(value) {
    return String(value).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function frame(list) {
    if (!list.length) { return [[116, 37], [118, 36]]; }
    var lngs = list.map(function (c) { return c.lng; }), lats = list.map(function (c) { return c.lat; });
    var pad = 0.01;
    return [[Math.min.apply(null, lngs) - pad, Math.max.apply(null, lats) + pad],
            [Math.max.apply(null, lngs) + pad, Math.min.apply(null, lats) - pad]];
  }

  function start(root, el) {
    var chart = window.echarts.init(el);
    var compounds = {};
    var outlined = false;
    window.addEventListener("resize", function () { chart.resize(); });

    function markers(data) {
      return data.alerts
        .filter(function (a) { return compounds[a.compound_id]; })
        .map(function (a) {
          var c = compounds[a.compound_id];
          return { name: c.name + " · " + a.name, value: [c.lng, c.lat], severity: a.severity, alertId: a.id };
        });
    }

    function draw(data) {
      compounds = {};
      data.compounds.forEach(function (c) { compounds[c.id] = c; });
      var geo = { map: MAP_NAME, roam: true, itemStyle: { areaColor: "#eef2f7", borderColor: "#8fa3bf" },
                  label: { show: true, color: "#7d8ca3" }, emphasis: { disabled: true } };
      if (!outlined) {
        // Without an outline the compounds still stand at their coordinates, in a frame around them.
        if (!window.echarts.getMap(MAP_NAME)) {
          window.echarts.registerMap(MAP_NAME, { type: "FeatureCollection", features: [] });
        }
        geo.boundingCoords = frame(data.compounds);
      }
      var alerts = markers(data);
      root.dataset.alertMarkers = String(alerts.length);
      chart.setOption({
        title: { text: root.dataset.labelMap, textStyle: { fontSize: 14 } },
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (p.seriesIndex === 1) { return escape(p.name); }
            var c = p.data.compound;
            return escape(c.name) + (c.score === null ? "" : " " + c.score.toFixed(2));
          }
        },
        geo: geo,
        series: [
          {
            type: "scatter", coordinateSystem: "geo", symbolSize: 12, z: 2,
            data: data.compounds.map(function (c) {
              return { name: c.name, value: [c.lng, c.lat], compound: c,
                       itemStyle: { color: c.band ? BAND_COLOURS[c.band] : NO_INDEX, borderColor: "#fff", borderWidth: 1 } };
            })
          },
          {
            type: "effectScatter", coordinateSystem: "geo", z: 3,
            rippleEffect: { scale: 3, brushType: "stroke" },
            symbolSize: function (v, p) { return SEVERITY_SIZE[p.data.severity] || 14; },
            itemStyle: { color: "#d9363e" },
            data: alerts
          }
        ]
      }, true);
    }

    var pending = null;
    function load() {
      return fetch(root.dataset.mapUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          if (data.outline && !outlined) {
            return fetch(data.outline).then(function (r) { return r.json(); }).then(function (shape) {
              window.echarts.registerMap(MAP_NAME, shape);
              outlined = true;
              draw(data);
            });
          }
          draw(data);
        })
        .then(function () { root.dataset.mapState = "drawn"; })
        .catch(function () { root.dataset.mapState = "failed"; });
    }
    function reloadSoon() {
      if (pending) { return; }
      pending = window.setTimeout(function () {
        pending = null;
        load();
        document.dispatchEvent(new CustomEvent("safety:alerts-changed"));
      }, 1000);
    }

    chart.on("click", function (p) {
      if (p.seriesIndex === 0 && p.data && p.data.compound) {
        window.location.href = root.dataset.compoundUrl + p.data.compound.id + "/";
      }
    });

    load();
    if (root.dataset.wsPath && "WebSocket" in window) { listen(root.dataset.wsPath, reloadSoon); }
  }

  // One socket; any alert message (raised, folded, updated) changes the markers. A lost
  // connection is retried with a growing delay and the map reloaded, so nothing missed stays off it.
  function listen(path, changed) {
    var delay = 1000;
    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss" : "ws";
      var socket = new WebSocket(scheme + "://" + window.location.host + path);
      socket.addEventListener("open", function () { delay = 1000; });
      socket.addEventListener("message", function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message && typeof message.type === "string" && message.type.indexOf("alert.") === 0) { changed(); }
      });
      socket.addEventListener("close", function (event) {
        if (event.code === 4401 || event.code === 4403) { return; }
        window.setTimeout(function () { connect(); changed(); }, delay + Math.random() * delay * 0.3);
        delay = Math.min(delay * 2, 30000);
      });
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-testid=safety-dashboard]");
    var el = root && root.querySelector('[data-chart="map"]');
    if (!el || !window.echarts || !root.dataset.mapUrl) { return; }
    el.style.height = (root.classList.contains("safety-big-screen") ? 560 : 420) + "px";
    start(root, el);
  });
})();
