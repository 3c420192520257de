// Flywheel cockpit: draws every <canvas data-chart="…"> with Chart.js. The JSON names a
// chart type, labels, series and whether bars run horizontally; the numbers behind each
// chart are in the page too, in the table under it.
(function () {
  "use strict";
  var palette = ["#2f5fd0", "#b42318", "#f5b700", "#1a7f4b", "#6d3fd0", "#667085"];
  function draw(canvas) {
    var spec;
    try { spec = JSON.parse(canvas.dataset.chart); } catch (e) { return; }
    var datasets = spec.series.map(function (s, i) {
      var colour = palette[i % palette.length];
      return { label: s.label, data: s.data, backgroundColor: colour, borderColor: colour, borderRadius: 3 };
    });
    canvas.chart = new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1 } },
        scales: { x: { stacked: false }, y: { beginAtZero: true } }
      }
    });
  }
  function start() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
