// The console's one script: draws each pipeline's total lag over time with uPlot, from the readings the
// console keeps (GET <pipeline>/lag.json), redrawn as new readings come. Pages work without it but for the chart.
(function () {
  'use strict';
  function draw(element) {
    var url = element.getAttribute('data-lag-chart');
    var plot;
    function refresh() {
      fetch(url, { credentials: 'same-origin' })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (history) {
          if (!history) return;
          var data = [history.times, history.totals];
          if (!plot) {
            plot = new uPlot(
              {
                width: Math.max(320, element.clientWidth),
                height: 220,
                scales: { y: { range: function (_u, _min, max) { return [0, Math.max(10, max)]; } } },
                series: [{}, { label: 'total lag', stroke: '#2b6cb0', fill: 'rgba(43,108,176,0.12)', width: 2 }],
                axes: [{}, { label: 'records' }],
              },
              data,
              element,
            );
          } else {
            plot.setData(data);
          }
        })
        .catch(function () {});
    }
    refresh();
    setInterval(refresh, 5000);
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-lag-chart]').forEach(draw);
  });
})();
