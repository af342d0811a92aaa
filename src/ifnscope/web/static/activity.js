// CDASI / CLASI running totals on the case form (templates/_activity_grid.html). The same sums
// as the engine (activity/scoring.py): a cell left at "—" is not scored, so each total is the
// range it could still reach; a band is named only when the whole range lies in one band. The
// maxima and the sourced bands come from the rule tables through data attributes. The saved
// visit is scored again by the engine: this is a preview, and nothing here is sent anywhere.
(function () {
  "use strict";

  function span(lo, hi) {
    return lo === hi ? String(lo) : lo + "\u2013" + hi;
  }

  function bandText(box, lo, hi) {
    var bands;
    try {
      bands = JSON.parse(box.getAttribute("data-bands") || "[]");
    } catch (e) {
      return { line: "", short: "" };
    }
    if (!bands.length) return { line: "", short: "" };
    var name = box.getAttribute("data-band-name") || "";
    var hit = bands.filter(function (b) { return b.min <= hi && b.max >= lo; });
    if (hit.length === 1) {
      return { line: name + " band: " + hit[0].label, short: hit[0].label };
    }
    var could = hit.map(function (b) { return b.label; }).join(" or ");
    return { line: "Band not determined: if complete it could be " + could, short: "band open" };
  }

  function value(sel) {
    return sel.value === "" ? null : parseInt(sel.value, 10);
  }

  function update(box) {
    var known = { activity: 0, damage: 0 };
    var open = { activity: 0, damage: 0 };
    var multKnown = 0, multOpen = 0, any = false, unscored = 0, areasScored = 0;

    function add(sel) {
      var v = value(sel), max = parseInt(sel.getAttribute("data-max"), 10);
      var part = sel.getAttribute("data-part");
      if (sel.hasAttribute("data-multiplied")) {
        if (v === null) multOpen += max; else multKnown += v;
      } else if (v === null) {
        open[part] += max;
      } else {
        known[part] += v;
      }
      if (v !== null) any = true;
      return v;
    }

    box.querySelectorAll("tr[data-area]").forEach(function (row) {
      var missing = 0, scored = false;
      row.querySelectorAll("select[data-part]").forEach(function (sel) {
        if (add(sel) === null) missing += 1; else scored = true;
      });
      if (scored) { areasScored += 1; unscored += missing; } else { unscored += 1; }
    });
    box.querySelectorAll(".once select[data-part]").forEach(function (sel) {
      if (add(sel) === null) unscored += 1;
    });

    var flagSel = box.querySelector("select[data-flag]");
    var factor = parseInt(box.getAttribute("data-factor") || "1", 10);
    var flag = flagSel && flagSel.value ? flagSel.value === "yes" : null;
    if (flagSel && flagSel.value) any = true;
    var act = [known.activity, known.activity + open.activity];
    var low = flag === true ? factor : 1, high = flag === false ? 1 : factor;
    var dmg = [
      known.damage + multKnown * low,
      known.damage + open.damage + (multKnown + multOpen) * high
    ];
    if (flagSel && flag === null && multKnown + multOpen > 0) unscored += 1;

    var out = function (key) { return box.querySelector('[data-total="' + key + '"]'); };
    var summary = box.querySelector("[data-summary]");
    if (!any) {
      out("activity").textContent = "not scored";
      out("damage").textContent = "not scored";
      out("band").textContent = "";
      out("unscored").textContent = "Nothing chosen: this index is not scored (unknown, not 0).";
      if (summary) summary.textContent = "not scored";
      return;
    }
    var band = bandText(box, act[0], act[1]);
    out("activity").textContent = span(act[0], act[1]);
    out("damage").textContent = span(dmg[0], dmg[1]);
    out("band").textContent = band.line;
    var n = box.getAttribute("data-areas");
    var text = areasScored + " of " + n + " areas scored";
    if (unscored > 0) {
      text += "; " + unscored + " entr" + (unscored === 1 ? "y" : "ies") +
        " not scored, so the totals are the range they could reach";
    }
    out("unscored").textContent = text + ".";
    if (summary) {
      summary.textContent = "activity " + span(act[0], act[1]) + (band.short ? " · " + band.short : "") +
        ", damage " + span(dmg[0], dmg[1]);
    }
  }

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    document.querySelectorAll(".activity-index[data-index]").forEach(update);
    // "blanks → 0" on an area row: a person's explicit choice of 0 for the cells left blank
    // in that area (only with JavaScript; without it the buttons stay hidden).
    document.querySelectorAll("[data-zero-rest]").forEach(function (b) { b.hidden = false; });
  });

  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-zero-rest]");
    if (!btn) return;
    var row = btn.closest("tr[data-area]");
    var box = btn.closest(".activity-index[data-index]");
    if (!row || !box) return;
    row.querySelectorAll("select[data-part]").forEach(function (sel) {
      if (sel.value === "") sel.value = "0";
    });
    update(box);
  });

  document.addEventListener("change", function (evt) {
    var box = evt.target.closest && evt.target.closest(".activity-index[data-index]");
    if (box) update(box);
  });
})();
