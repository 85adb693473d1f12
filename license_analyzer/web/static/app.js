// The review app's only script (no inline script runs under its Content-Security-Policy):
// draws the charts from their JSON data blocks, and ticks every checkbox of a page at once.
(function () {
  "use strict";
  function drawCharts(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll("script[type='application/json'][data-chart]").forEach(function (block) {
      var target = document.getElementById(block.getAttribute("data-chart"));
      if (!target || target.getAttribute("data-drawn")) { return; }
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(target, figure.data, figure.layout, figure.config);
      target.setAttribute("data-drawn", "1");
    });
  }
  function wireSelectAll(root) {
    var all = root.querySelector("#select-all");
    if (!all) { return; }
    all.addEventListener("change", function () {
      document.querySelectorAll("#candidate-table input.pick").forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    wireSelectAll(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) { wireSelectAll(event.target); });
}());
