/* 一屏观全市 (templates/screen.html): draws the charts from the embedded JSON, re-fills the
   figures, lists and tables, and every 60 s fetches the same JSON again and re-renders in place.
   A failed refresh keeps the last data and says so. Plain ES2017, no build step, no inline
   styles (the page's CSP allows none), every text set through textContent. */
(function () {
  "use strict";

  const REFRESH_MS = 60 * 1000;
  const COLOR = { red: "#ff4d4f", orange: "#ff9f1a", today: "#3fa7ff", usual: "#5c6f8a",
                  replied: "#36cfc9", ink: "#dce8f5", muted: "#8aa2bd", line: "#1f3a5a" };
  const OPEN_SHADES = ["#2a3f5a", "#285f9e", "#2f7fd1", "#3fa7ff"];   // no open work .. the most
  const MAP_NAME = "jiesu-streets";

  const root = document.getElementById("screen");
  const source = document.getElementById("screen-data");
  if (!root || !source) return;
  const dataUrl = root.getAttribute("data-url");
  const charts = {};

  // --- formatting (the same as the server's filters) -----------------------------------------
  // One decimal, ties to even as Python's "%.1f" rounds (older browsers ignore roundingMode).
  const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1,
                                                       useGrouping: false, roundingMode: "halfEven" });
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const fixed1 = (v) => (isNum(v) ? oneDecimal.format(v) : "—");
  const pct = (v) => (isNum(v) ? fixed1(v * 100) + "%" : "—");
  const num = (v) => (v === null || v === undefined ? "—" : String(v));
  const score = (v) => (isNum(v) ? fixed1(v * 100) : "—");
  const appealCount = (a) => (Array.isArray(a.appeals) ? a.appeals.length : num(a.appeals));
  const pad = (n) => String(n).padStart(2, "0");

  function beijing(iso, withSeconds) {      // HH:MM[:SS] in Beijing time (UTC+8, no DST)
    const t = Date.parse(iso);
    const d = new Date((isNaN(t) ? Date.now() : t) + 8 * 3600 * 1000);
    const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    return withSeconds ? hm + ":" + pad(d.getUTCSeconds()) : hm;
  }

  function esc(s) {                          // for ECharts tooltips, which are HTML
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach((k) => node.setAttribute(k, attrs[k]));
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  const slot = (name) => root.querySelector('[data-slot="' + name + '"]');
  const list = (name) => root.querySelector('[data-list="' + name + '"]');

  // --- figures, lists, tables ------------------------------------------------------------------
  function renderFigures(data) {
    const counts = data.counts || {};
    const rates = data.rates || {};
    root.querySelectorAll("[data-metric]").forEach((node) => {
      const name = node.getAttribute("data-metric");
      node.textContent = name.startsWith("rate-") ? pct(rates[name.slice(5)]) : num(counts[name]);
    });
    slot("scope").textContent = (data.scope || {}).name || "";
    slot("period").textContent = rates.period || "";
    const time = slot("as_of");
    time.textContent = beijing(data.as_of, true);
    time.setAttribute("datetime", data.as_of || "");
    slot("demo").replaceChildren(...(data.demo ? [el("span", { class: "screen-demo" }, ["演示数据"])] : []));
  }

  function fill(container, items, build, emptyNode) {
    container.replaceChildren(...(items.length ? items.map(build) : [emptyNode]));
  }

  function renderLists(data) {
    fill(list("alerts"), data.alerts || [], (a) => el("li", { class: "alert", "data-alert-id": a.alert_id }, [
      el("div", { class: "alert-head" }, [
        el("time", { datetime: a.at }, [beijing(a.at, false)]),
        el("span", { class: "alert-where" }, [a.area_name + " · " + a.group_name]),
      ]),
      el("div", { class: "alert-nums" }, [
        "预计 " + fixed1(a.expected) + "，实际 " + a.observed + " · " + appealCount(a) + " 件诉求"]),
    ]), el("li", { class: "empty" }, ["暂无预警"]));

    const rankings = data.rankings || {};
    fill(list("units"), rankings.units || [], (u) => el("tr", { "data-unit-id": u.unit_id },
      [u.rank, u.name, score(u.score), num(u.volume)].map((v) => el("td", {}, [num(v)]))),
    el("tr", {}, [el("td", { colspan: "4", class: "empty" }, ["暂无排名"])]));
    ["red", "black"].forEach((key) => fill(list(key), rankings[key] || [], (u) => el("li", { "data-unit": u.unit_id }, [
      el("span", {}, [u.name]), " ", el("b", {}, [score(u.score)]),
    ]), el("li", { class: "empty" }, ["暂无"])));
  }

  // --- charts ----------------------------------------------------------------------------------
  const tooltip = { backgroundColor: "rgba(10, 25, 45, .92)", borderColor: COLOR.line, textStyle: { color: COLOR.ink } };
  const axisText = { color: COLOR.muted, fontSize: 11 };
  const splitLine = { lineStyle: { color: COLOR.line } };

  function streetColor(s, maxOpen) {
    if (s.overdue > 0) return COLOR.red;
    if (s.hot) return COLOR.orange;
    if (!(s.open > 0) || !maxOpen) return OPEN_SHADES[0];
    return OPEN_SHADES[Math.min(3, 1 + Math.floor((s.open / maxOpen) * 2.999))];
  }

  function streetTip(s) {
    return esc(s.district_name ? s.district_name + " " + s.name : s.name) +
      "<br>在办 " + esc(num(s.open)) + " · 超期 " + esc(num(s.overdue)) + (s.hot ? "<br>热点" : "");
  }

  function mapOption(map) {
    const streets = map.streets || [];
    const maxOpen = Math.max(0, ...streets.map((s) => s.open || 0));
    const base = { backgroundColor: "transparent",
      tooltip: Object.assign({ trigger: "item",
        formatter: (p) => (p.data && p.data.street ? streetTip(p.data.street) : esc(p.name)) }, tooltip) };
    if (map.geojson) {               // the streets' outlines: features named by code, else by name
      echarts.registerMap(MAP_NAME, map.geojson);
      const byCode = (map.geojson.features || []).some((f) => f.properties && f.properties.code != null);
      return Object.assign(base, { series: [{
        type: "map", map: MAP_NAME, nameProperty: byCode ? "code" : "name", roam: true,
        itemStyle: { areaColor: OPEN_SHADES[0], borderColor: "#4a6b8f" },
        emphasis: { label: { color: COLOR.ink }, itemStyle: { areaColor: "#4b8fd6" } },
        select: { disabled: true },
        data: streets.map((s) => ({ name: byCode ? s.code : s.name, street: s,
                                    itemStyle: { areaColor: streetColor(s, maxOpen) } })),
      }] });
    }
    const placed = streets.filter((s) => isNum(s.lng) && isNum(s.lat));
    return Object.assign(base, {       // a schematic: each street a dot at its centre
      grid: { left: 10, right: 60, top: 10, bottom: 10 },
      xAxis: { type: "value", scale: true, show: false },
      yAxis: { type: "value", scale: true, show: false },
      series: [{
        type: "scatter",
        data: placed.map((s) => ({ value: [s.lng, s.lat], street: s,
          symbolSize: 8 + Math.sqrt(s.open || 0) * 4, itemStyle: { color: streetColor(s, maxOpen) },
          label: { show: s.overdue > 0 || Boolean(s.hot) } })),
        label: { position: "right", color: COLOR.ink, fontSize: 11, formatter: (p) => p.data.street.name },
        emphasis: { label: { show: true } },
      }],
    });
  }

  function axisTip(params) {
    return esc(params[0].axisValueLabel) + params.map((p) => "<br>" + esc(p.seriesName) + " " + esc(num(p.value))).join("");
  }

  function compareOption(rows, horizontal) {     // today vs usual, per category or channel
    const names = { type: "category", data: rows.map((r) => r.name), axisLabel: Object.assign(
      // Many channels side by side: their names turn, so they do not run into each other.
      { width: horizontal ? 96 : 72, overflow: "truncate", interval: 0, rotate: !horizontal && rows.length > 5 ? 35 : 0 },
      axisText), inverse: horizontal };
    const values = { type: "value", axisLabel: axisText, splitLine: splitLine };
    return {
      backgroundColor: "transparent",
      tooltip: Object.assign({ trigger: "axis", axisPointer: { type: "shadow" }, formatter: axisTip }, tooltip),
      legend: { top: 0, right: 0, textStyle: axisText, itemWidth: 12, itemHeight: 8 },
      grid: { left: 8, right: 12, top: 22, bottom: 4, containLabel: true },
      xAxis: horizontal ? values : names,
      yAxis: horizontal ? names : values,
      series: [
        { name: "今日", type: "bar", data: rows.map((r) => r.today), itemStyle: { color: COLOR.today }, barMaxWidth: 14 },
        { name: "常态", type: "bar", data: rows.map((r) => r.usual), itemStyle: { color: COLOR.usual }, barMaxWidth: 14 },
      ],
    };
  }

  function trendOption(trend) {
    const line = (name, key, color) => ({ name: name, type: "line", smooth: true, showSymbol: false,
      data: trend.map((d) => d[key]), itemStyle: { color: color }, lineStyle: { width: 2 } });
    return {
      backgroundColor: "transparent",
      tooltip: Object.assign({ trigger: "axis", formatter: axisTip }, tooltip),
      legend: { top: 0, right: 0, textStyle: axisText, itemWidth: 14, itemHeight: 8 },
      grid: { left: 8, right: 12, top: 22, bottom: 4, containLabel: true },
      xAxis: { type: "category", boundaryGap: false, data: trend.map((d) => String(d.day).slice(5)), axisLabel: axisText },
      yAxis: { type: "value", axisLabel: axisText, splitLine: splitLine },
      series: [line("受理", "received", COLOR.today), line("答复", "replied", COLOR.replied)],
    };
  }

  const kinds = {};
  function draw(name, option, kind) {
    const node = root.querySelector('[data-chart="' + name + '"]');
    if (!node) return;
    charts[name] = charts[name] || echarts.init(node, "dark");
    // A refresh merges (the bars and lines move to their new values); a chart whose kind changes
    // (the map: dots, then outlines once geojson arrives) starts over.
    charts[name].setOption(option, { notMerge: kinds[name] !== kind });
    kinds[name] = kind;
  }

  function renderCharts(data) {
    if (typeof echarts === "undefined") return;  // figures and tables still show
    const map = data.map || {};
    draw("map", mapOption(map), map.geojson ? "outlines" : "dots");
    draw("categories", compareOption((data.categories || []).slice(0, 10), true), "bars");
    draw("channels", compareOption(data.channels || [], false), "bars");
    draw("trend", trendOption(data.trend || []), "lines");
  }

  function render(data) {
    renderFigures(data);
    renderLists(data);
    renderCharts(data);
  }

  // --- refresh ---------------------------------------------------------------------------------
  async function refresh() {
    try {
      const res = await fetch(dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const next = await res.json();
      if (!next || typeof next.counts !== "object") throw new Error("not the screen's data");
      render(next);
      slot("stale").hidden = true;
    } catch (err) {
      slot("stale").hidden = false;             // the last data stays on screen
      console.warn("screen refresh failed:", err.message);
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  let resizing = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(() => Object.keys(charts).forEach((k) => charts[k].resize()));
  });

  render(JSON.parse(source.textContent));
  if (dataUrl) setTimeout(refresh, REFRESH_MS);
})();
