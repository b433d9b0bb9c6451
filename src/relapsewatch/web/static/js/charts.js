/* Draws every chart on the page from its JSON block, with Plotly served by this app.
   The data sits in <script type="application/json" id="..."> blocks (not executed); each chart
   box names its block in data-figure. No inline script is needed, so the Content-Security-Policy
   can forbid them. A scale switch (linear / log) re-draws the chart in place; without JavaScript
   its links reload the page with ?scale=... instead. */
(function () {
  "use strict";

  function readFigure(id) {
    var block = document.getElementById(id);
    if (!block) {
      return null;
    }
    try {
      return JSON.parse(block.textContent);
    } catch (err) {
      return null;
    }
  }

  function draw(box) {
    var figure = readFigure(box.getAttribute("data-figure"));
    if (!figure || typeof window.Plotly === "undefined") {
      return;
    }
    var target = box.querySelector(".chart");
    if (box.getAttribute("data-compact") === "true") {
      // The same chart in a half-width box: bands without labels, relapses still numbered.
      figure.layout.annotations = (figure.layout.annotations || []).filter(function (note) {
        return String(note.text || "").indexOf("Relapse ") === 0;
      });
      figure.layout.showlegend = false;
      figure.layout.margin = { l: 56, r: 12, t: 24, b: 40 };
    }
    if (target.clientWidth < 640 && figure.layout.annotations) {
      // On a narrow screen long labels collide: keep "Line 2" and "R1" (the table below the
      // chart lists each line's treatment and each relapse in full).
      figure.layout.annotations = figure.layout.annotations.map(function (note) {
        var text = String(note.text || "");
        if (text.indexOf("Line ") === 0) {
          return Object.assign({}, note, { text: text.split(":")[0] });
        }
        if (text.indexOf("Relapse ") === 0) {
          return Object.assign({}, note, { text: "R" + text.slice(8) });
        }
        return note;
      });
    }
    window.Plotly.newPlot(target, figure.data, figure.layout, {
      responsive: true,
      displayModeBar: false,
      displaylogo: false,
      scrollZoom: false
    });
    target.setAttribute("data-drawn", "true");
  }

  function bindScaleSwitch(switcher) {
    var box = document.getElementById(switcher.getAttribute("data-chart"));
    if (!box) {
      return;
    }
    var links = switcher.querySelectorAll("a[data-scale]");
    links.forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = box.querySelector(".chart");
        if (!target || target.getAttribute("data-drawn") !== "true") {
          return;
        }
        event.preventDefault();
        var scale = link.getAttribute("data-scale");
        window.Plotly.relayout(target, { "yaxis.type": scale === "log" ? "log" : "linear" });
        links.forEach(function (other) {
          other.setAttribute("aria-current", other === link ? "true" : "false");
        });
        if (window.history && window.history.replaceState) {
          var url = new URL(window.location.href);
          url.searchParams.set("scale", scale);
          window.history.replaceState(null, "", url.toString());
        }
      });
    });
  }

  function start() {
    document.querySelectorAll("[data-figure]").forEach(draw);
    document.querySelectorAll("[data-scale-switch]").forEach(bindScaleSwitch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
