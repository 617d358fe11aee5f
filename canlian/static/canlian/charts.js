// Charts drawn with ECharts from the JSON a page puts beside them (json_script), so no page needs an inline
// script (the Content-Security-Policy allows scripts from our own static files only).
// <div class="chart" data-chart="payroll-months" data-chart-data="chart-data"></div>
(function () {
  "use strict";

  var money = function (v) {
    return Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  };

  // Tooltips are drawn by ECharts itself (renderMode "richText"): its HTML tooltips write style attributes,
  // which the policy refuses.
  var builders = {
    // 月度发放金额: one bar per programme and month (benefits/payroll_list.html)
    "payroll-months": function (data) {
      return {
        animation: false,
        color: ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#dc3545"],
        tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: function (v) { return money(v) + " 元"; } },
        legend: { top: 0 },
        grid: { left: 12, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.months },
        yAxis: {
          type: "value",
          name: "元",
          axisLabel: { formatter: function (v) { return v >= 10000 ? (v / 10000) + "万" : v; } }
        },
        series: data.series.map(function (s) {
          return { name: s.name, type: "bar", data: s.data, barMaxWidth: 36, emphasis: { focus: "series" } };
        })
      };
    },
    // 疑点按镇(街道)分布: stacked bars per town (verification/report.html)
    "findings-by-town": function (data) {
      return {
        animation: false,
        tooltip: { trigger: "axis", renderMode: "richText" },
        legend: { top: 0, type: "scroll" },
        grid: { left: 12, right: 16, top: 40, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.towns, axisLabel: { interval: 0, rotate: data.towns.length > 7 ? 30 : 0 } },
        yAxis: { type: "value", name: "条", minInterval: 1 },
        series: data.series.map(function (s) {
          return { name: s.name, type: "bar", stack: "total", data: s.data, barMaxWidth: 40 };
        })
      };
    }
  };

  // 目标进度 (workplan/board.html): a target's actual and quota by town
  builders["target-towns"] = function (data) {
    return {
      animation: false,
      color: ["#0d6efd", "#adb5bd"],
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 12, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.towns, axisLabel: { interval: 0, rotate: data.towns.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: data.unit, minInterval: 1 },
      series: [
        { name: "完成", type: "bar", data: data.actual, barMaxWidth: 28, label: { show: true, position: "top" } },
        { name: "分解目标", type: "bar", data: data.quota, barMaxWidth: 28 }
      ]
    };
  };
  // a target's cumulative figure at each month's end (frozen snapshots, this month live) against the pace
  builders["target-months"] = function (data) {
    return {
      animation: false,
      color: ["#0d6efd", "#fd7e14"],
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 12, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", name: data.unit, minInterval: 1 },
      series: [
        { name: "累计完成", type: "line", data: data.series, connectNulls: false, label: { show: true } },
        { name: "按进度应完成", type: "line", data: data.pace, lineStyle: { type: "dashed" }, symbol: "none" }
      ]
    };
  };

  function draw(el) {
    var build = builders[el.dataset.chart];
    var source = document.getElementById(el.dataset.chartData);
    if (!build || !source || typeof echarts === "undefined") { return; }
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(build(JSON.parse(source.textContent)));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(draw);
  });
})();
