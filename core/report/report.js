/* Screenalytics report: sortable totals and a CSV built from the embedded data. Nothing is fetched. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var COLUMNS = ["person_id", "visual_s", "speaking_s", "both_s", "share", "confidence"];

  function cell(value) {
    var s = String(value);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  /* The totals as CSV text, in the data's order (most visible first). */
  function csv() {
    var lines = [COLUMNS.join(",")];
    data.people.forEach(function (p) {
      lines.push(COLUMNS.map(function (c) { return cell(p[c]); }).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }

  function compare(x, y) { return x < y ? -1 : x > y ? 1 : 0; }  /* by code point: the same order everywhere */

  /* Sort the table's rows by one column; a second click on it reverses the order. */
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "descending" ? 1 : -1) : (numeric ? -1 : 1);
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
      var d = numeric ? parseFloat(x) - parseFloat(y) : compare(x, y);
      return d * dir || compare(a.getAttribute("data-person"), b.getAttribute("data-person"));
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }

  var table = document.getElementById("totals-table");
  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.querySelector("button").addEventListener("click", function () { sortBy(th); });
    });
  }
  var link = document.getElementById("csv");
  if (link) {
    link.addEventListener("click", function () {
      if (link.href.indexOf("blob:") === 0) { URL.revokeObjectURL(link.href); }
      link.href = URL.createObjectURL(new Blob([csv()], { type: "text/csv;charset=utf-8" }));
    });
  }
  window.screenalyticsReport = { data: data, csv: csv, sortBy: sortBy };
})();
