// The safety dashboard: reads /api/safety/dashboard/ and draws its charts with ECharts (vendored).
// Clicking a child area opens its dashboard; clicking a compound opens its index breakdown.
(function () {
  "use strict";
  var BAND_COLOURS = { blue: "#2f6fdf", yellow: "#e6b800", orange: "#f08c00", red: "#d9363e" };

  function text(el, value) { if (el) { el.textContent = value; } }

  var charts = [];

  function chart(root, name, height) {
    var el = root.querySelector('[data-chart="' + name + '"]');
    if (!el || !window.echarts) { return null; }
    el.style.height = height + "px"; // set from script: the page's CSP allows no inline style attribute
    var made = window.echarts.getInstanceByDom(el);
    if (made) { return made; } // redrawn with fresh figures (alerts change live)
    made = window.echarts.init(el);
    charts.push(made);
    return made;
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });

  function drawChildren(root, data, big) {
    var c = chart(root, "children", big ? 420 : 300);
    if (!c) { return; }
    var kids = data.children;
    c.setOption({
      title: { text: root.dataset.labelChildren, textStyle: { fontSize: 14 } },
      grid: { left: 100, right: 20, top: 40, bottom: 20 },
      xAxis: { type: "value", min: 0, max: 100 },
      yAxis: { type: "category", data: kids.map(function (k) { return k.name; }) },
      tooltip: {},
      series: [{
        type: "bar",
        data: kids.map(function (k) { return { value: k.score, itemStyle: { color: BAND_COLOURS[k.band] } }; })
      }]
    });
    c.on("click", function (p) {
      var kid = kids[p.dataIndex];
      if (!kid) { return; }
      window.location.href = kid.kind === "compound" ? root.dataset.compoundUrl + kid.id + "/" : root.dataset.areaUrl + kid.id;
    });
  }

  // The city's streets, worst first: where the bureau should look (a click opens the street).
  function drawStreets(root, data, big) {
    var rows = (data.streets || []).slice().sort(function (a, b) { return a.score - b.score; });
    if (!rows.length) { return; }
    var card = root.querySelector('[data-testid="streets-card"]');
    if (card) { card.classList.remove("d-none"); }
    var c = chart(root, "streets", big ? 360 : 280);
    if (!c) { return; }
    c.setOption({
      title: { text: root.dataset.labelStreets, textStyle: { fontSize: 14 } },
      grid: { left: 40, right: 20, top: 40, bottom: 70 },
      tooltip: {},
      dataZoom: rows.length > 40 ? [{ type: "slider", start: 0, end: Math.max(5, 4000 / rows.length) }] : [],
      xAxis: { type: "category", data: rows.map(function (r) { return r.name; }), axisLabel: { rotate: 45, interval: 0 } },
      yAxis: { type: "value", min: 0, max: 100 },
      series: [{
        type: "bar",
        data: rows.map(function (r) { return { value: r.score, itemStyle: { color: BAND_COLOURS[r.band] } }; })
      }]
    });
    c.on("click", function (p) {
      var row = rows[p.dataIndex];
      if (row) { window.location.href = root.dataset.areaUrl + row.id; }
    });
  }

  function drawTrend(root, data, big) {
    var c = chart(root, "trend", big ? 420 : 300);
    if (!c) { return; }
    c.setOption({
      title: { text: root.dataset.labelTrend, textStyle: { fontSize: 14 } },
      grid: { left: 40, right: 20, top: 40, bottom: 30 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.trend.map(function (p) { return p.day; }) },
      yAxis: { type: "value", min: function (v) { return Math.max(0, Math.floor(v.min - 5)); }, max: 100 },
      series: [{ type: "line", smooth: true, data: data.trend.map(function (p) { return p.score; }) }]
    });
  }

  function drawBands(root, data, big) {
    var c = chart(root, "bands", big ? 360 : 260);
    if (!c) { return; }
    var names = ["blue", "yellow", "orange", "red"];
    c.setOption({
      title: { text: root.dataset.labelBands, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "item" },
      series: [{
        type: "pie", radius: ["40%", "70%"], top: 30,
        data: names.map(function (b) {
          return { name: root.dataset["band" + b.charAt(0).toUpperCase() + b.slice(1)], value: data.bands[b] || 0,
                   itemStyle: { color: BAND_COLOURS[b] } };
        })
      }]
    });
  }

  function drawAlerts(root, data, big) {
    var rows = data.alerts || [];
    var none = root.querySelector('[data-testid="no-alerts"]');
    if (none) { none.classList.toggle("d-none", rows.length > 0); }
    root.dataset.alertsCounted = String(rows.reduce(function (sum, r) { return sum + r.alerts; }, 0));
    if (!rows.length) { return; }
    var c = chart(root, "alerts", big ? 360 : 260);
    if (!c) { return; }
    var shown = rows.slice().reverse(); // most at the top of a horizontal bar chart
    c.setOption({
      title: { text: root.dataset.labelAlerts, textStyle: { fontSize: 14 } },
      grid: { left: 150, right: 30, top: 40, bottom: 20 },
      tooltip: {},
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: shown.map(function (r) { return r.name; }) },
      series: [{ type: "bar", itemStyle: { color: "#d9363e" }, label: { show: true, position: "right" },
                 data: shown.map(function (r) { return r.alerts; }) }]
    });
  }

  function fillMediation(root, data) {
    var m = data.mediation;
    var card = root.querySelector('[data-testid="mediation"]');
    if (!m) { // not a mediation-statistics role here (property staff): no card rather than zeros
      if (card && card.closest(".col-12")) { card.closest(".col-12").classList.add("d-none"); }
      return;
    }
    text(root.querySelector('[data-testid="mediation-rate"]'), m.success_rate === null ? "—" : m.success_rate.toFixed(1) + "%");
    ["cases", "open", "overdue", "agreements"].forEach(function (name) {
      text(root.querySelector('[data-figure="' + name + '"]'), String(m[name]));
    });
  }

  function fillList(root, name, rows) {
    var list = root.querySelector('[data-list="' + name + '"]');
    if (!list) { return; }
    list.textContent = "";
    rows.forEach(function (r) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root.dataset.compoundUrl + r.id + "/";
      a.textContent = r.name + " " + r.score.toFixed(2);
      a.setAttribute("data-testid", "compound-link");
      li.appendChild(a);
      list.appendChild(li);
    });
  }

  function draw(root, data) {
    var big = root.classList.contains("safety-big-screen");
    // Alerts and mediation do not wait for the first nightly snapshot.
    drawAlerts(root, data, big);
    fillMediation(root, data);
    if (!data.day) {
      var none = root.querySelector('[data-testid="no-data"]');
      text(none, root.dataset.labelNone);
      if (none) { none.classList.remove("d-none"); }
      return;
    }
    if (data.index) {
      text(root.querySelector('[data-testid="area-score"]'), data.index.score.toFixed(2));
      text(root.querySelector('[data-testid="area-stars"]'), "★★★★★".slice(0, data.index.stars));
    }
    text(root.querySelector('[data-testid="area-day"]'), data.day);
    drawChildren(root, data, big);
    drawStreets(root, data, big);
    drawTrend(root, data, big);
    drawBands(root, data, big);
    fillList(root, "best", data.best);
    fillList(root, "worst", data.worst);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-testid=safety-dashboard]");
    if (!root) { return; }
    if (root.classList.contains("safety-big-screen")) {
      // 大屏: the wall shows the dashboard alone (navigation and footer hidden).
      document.querySelectorAll("body > nav, body > footer").forEach(function (el) { el.classList.add("d-none"); });
    }
    function load() {
      return fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
    }
    load().then(function (data) { draw(root, data); }).catch(function () { /* the page keeps its empty state */ });
    // The map's socket says when alerts changed (safety-map.js): the counts by model follow.
    document.addEventListener("safety:alerts-changed", function () {
      load().then(function (data) { drawAlerts(root, data, root.classList.contains("safety-big-screen")); })
        .catch(function () { /* keep the last figures */ });
    });
  });
})();
