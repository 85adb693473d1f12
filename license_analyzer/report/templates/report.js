// The candidate table: data embedded once as JSON, rendered a page at a time with textContent
// (never innerHTML: every value is tenant data), filtered and sorted in the browser.
(function () {
  "use strict";
  var holder = document.getElementById("candidate-data");
  var table = document.getElementById("candidate-table");
  if (!holder || !table) { return; }
  var data = JSON.parse(holder.textContent);
  var col = {};
  data.columns.forEach(function (name, i) { col[name] = i; });
  var rows = data.rows;
  var body = table.tBodies[0];
  var pageSize = 50;
  var state = { page: 0, key: "saving", dir: -1 };
  var filters = {
    text: document.getElementById("f-text"),
    product: document.getElementById("f-product"),
    rule: document.getElementById("f-rule"),
    department: document.getElementById("f-department"),
    status: document.getElementById("f-status")
  };
  var money;
  try {
    var fmt = new Intl.NumberFormat(undefined, { style: "currency",
      currency: table.getAttribute("data-currency") || "USD", maximumFractionDigits: 2 });
    money = function (v) { return fmt.format(v); };
  } catch (e) {
    money = function (v) { return Number(v).toFixed(2); };
  }

  function fillSelect(select, name) {
    var seen = Object.create(null);
    rows.forEach(function (r) { var v = r[col[name]]; if (v) { seen[v] = true; } });
    Object.keys(seen).sort().forEach(function (v) {
      var option = document.createElement("option");
      option.value = v;
      option.textContent = v;
      select.appendChild(option);
    });
  }
  fillSelect(filters.product, "product");
  fillSelect(filters.rule, "rule");
  fillSelect(filters.department, "department");
  fillSelect(filters.status, "status");

  var searchable = ["name", "upn", "department", "product", "rule", "reason", "evidence", "id"];
  var view = rows.slice();

  function apply() {
    var text = filters.text.value.trim().toLowerCase();
    var want = {};
    ["product", "rule", "department", "status"].forEach(function (k) { want[k] = filters[k].value; });
    view = rows.filter(function (r) {
      for (var k in want) {
        if (want[k] && r[col[k]] !== want[k]) { return false; }
      }
      if (!text) { return true; }
      return searchable.some(function (k) {
        var v = r[col[k]];
        return v !== null && String(v).toLowerCase().indexOf(text) !== -1;
      });
    });
    sortView();
    state.page = 0;
    draw();
  }

  function sortView() {
    var i = col[state.key];
    var dir = state.dir;
    view.sort(function (a, b) {
      var x = a[i], y = b[i];
      if (x === y) { return 0; }
      if (x === null || x === "") { return 1; }
      if (y === null || y === "") { return -1; }
      return (x < y ? -1 : 1) * dir;
    });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text === null || text === undefined ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  function draw() {
    var pages = Math.max(1, Math.ceil(view.length / pageSize));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * pageSize;
    var frag = document.createDocumentFragment();
    view.slice(start, start + pageSize).forEach(function (r) {
      var tr = document.createElement("tr");
      var who = cell(tr, r[col.name]);
      var upn = document.createElement("div");
      upn.className = "sub";
      upn.textContent = r[col.upn];
      who.appendChild(upn);
      cell(tr, r[col.department]);
      cell(tr, r[col.product]);
      cell(tr, r[col.rule]);
      cell(tr, r[col.action]);
      var st = cell(tr, "");
      var pill = document.createElement("span");
      pill.className = "pill status-" + String(r[col.status]).replace(/[^a-z_]/g, "");
      pill.textContent = r[col.status];
      st.appendChild(pill);
      cell(tr, r[col.last_activity] || "never");
      cell(tr, r[col.days_inactive], "num");
      cell(tr, money(r[col.saving]), "num save-text");
      var why = cell(tr, r[col.reason], "why");
      if (r[col.blocked]) {
        var blocked = document.createElement("div");
        blocked.className = "blocked";
        blocked.textContent = "Needs an administrator: " + r[col.blocked];
        why.appendChild(blocked);
      }
      if (r[col.evidence]) {
        var details = document.createElement("details");
        var summary = document.createElement("summary");
        summary.textContent = "evidence";
        var ev = document.createElement("div");
        ev.className = "sub";
        ev.textContent = r[col.evidence] + (r[col.via] ? " · assigned via " + r[col.via] : "");
        details.appendChild(summary);
        details.appendChild(ev);
        why.appendChild(details);
      }
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    var shown = view.length ? (start + 1) + "–" + Math.min(start + pageSize, view.length) : "0";
    document.getElementById("candidate-count").textContent =
      view.length + " of " + rows.length + " candidates";
    document.getElementById("p-info").textContent =
      "Showing " + shown + " of " + view.length + " · page " + (state.page + 1) + " of " + pages;
    document.getElementById("p-prev").disabled = state.page === 0;
    document.getElementById("p-next").disabled = state.page >= pages - 1;
    table.setAttribute("data-shown", String(view.length));
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    var key = th.getAttribute("data-key");
    if (!key) { return; }
    th.addEventListener("click", function () {
      state.dir = state.key === key ? -state.dir : (key === "saving" || key === "days_inactive" ? -1 : 1);
      state.key = key;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
        other.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", state.dir === 1 ? "ascending" : "descending");
      sortView();
      state.page = 0;
      draw();
    });
  });
  var timer = null;
  filters.text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  ["product", "rule", "department", "status"].forEach(function (k) {
    filters[k].addEventListener("change", apply);
  });
  document.getElementById("p-prev").addEventListener("click", function () { state.page -= 1; draw(); });
  document.getElementById("p-next").addEventListener("click", function () { state.page += 1; draw(); });
  window.addEventListener("beforeprint", function () { pageSize = 200; draw(); });
  window.addEventListener("afterprint", function () { pageSize = 50; draw(); });
  apply();
}());
