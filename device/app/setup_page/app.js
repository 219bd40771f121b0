// The setup page: polls the station for the picture (with the pose in a header) and the status.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const canvas = $("picture");
  const ctx = canvas.getContext("2d");
  let edges = [];
  let lastSeq = -1;
  let formFilled = false;
  const FRAME_MS = 250;
  const STATUS_MS = 1000;
  const GONE_AFTER = 3;  // status polls in a row without an answer: the page has closed
  let misses = 0;
  let closed = false;

  function showClosed(text) {
    closed = true;
    document.body.replaceChildren(Object.assign(document.createElement("p"),
      { id: "closed", textContent: text, className: "login" }));
  }

  function gone(status) {
    // The session ended (time limit, closed, new PIN): back to the PIN form.
    if (status === 401 || status === 403) { window.location.replace("/"); return true; }
    return false;
  }

  function drawPose(lm) {
    if (!lm) return;
    const w = canvas.width, h = canvas.height;
    ctx.lineWidth = Math.max(2, w / 160);
    ctx.lineCap = "round";
    for (const [a, b] of edges) {
      const p = lm[a], q = lm[b];
      if (!p || !q || p[0] === null || q[0] === null) continue;
      const seen = Math.min(p[2] ?? 0, q[2] ?? 0) >= 0.5;
      ctx.strokeStyle = seen ? "rgba(61,220,132,0.95)" : "rgba(255,176,32,0.8)";
      ctx.beginPath();
      ctx.moveTo(p[0] * w, p[1] * h);
      ctx.lineTo(q[0] * w, q[1] * h);
      ctx.stroke();
    }
    for (const p of lm) {
      if (!p || p[0] === null) continue;
      ctx.fillStyle = (p[2] ?? 0) >= 0.5 ? "#e8fff1" : "#ffb020";
      ctx.beginPath();
      ctx.arc(p[0] * w, p[1] * h, Math.max(2.5, w / 140), 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  async function frameLoop() {
    try {
      const r = await fetch("/api/frame", { cache: "no-store", credentials: "same-origin" });
      if (gone(r.status)) return;
      if (r.status === 200) {
        let pose = null;
        try { pose = JSON.parse(r.headers.get("X-Pose") || "null"); } catch (e) { pose = null; }
        const blob = await r.blob();
        if (pose && pose.seq !== lastSeq) {
          lastSeq = pose.seq;
          const url = URL.createObjectURL(blob);
          const img = new Image();
          await new Promise((ok, fail) => { img.onload = ok; img.onerror = fail; img.src = url; });
          if (canvas.width !== img.naturalWidth || canvas.height !== img.naturalHeight) {
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
          }
          ctx.drawImage(img, 0, 0);
          URL.revokeObjectURL(url);
          drawPose(pose.lm);
          canvas.dataset.seq = String(pose.seq);
          canvas.dataset.joints = pose.lm ? String(pose.lm.length) : "0";
        }
      }
    } catch (e) { /* the station may be busy: try again */ }
    if (!closed) setTimeout(frameLoop, FRAME_MS);
  }

  function li(cls, text, why) {
    const el = document.createElement("li");
    el.className = cls;
    const span = document.createElement("span");
    span.textContent = text;
    el.appendChild(span);
    if (why) {
      const w = document.createElement("span");
      w.className = "why";
      w.textContent = why;
      el.appendChild(w);
    }
    return el;
  }

  function fillForm(st) {
    const o = st.options, p = st.placement || {};
    const opts = (sel, values, current, labels) => {
      sel.replaceChildren(...values.map((v) => {
        const e = document.createElement("option");
        e.value = String(v); e.textContent = labels ? labels(v) : String(v);
        if (String(v) === String(current)) e.selected = true;
        return e;
      }));
    };
    const est = st.view && st.view.view;
    opts($("f-exercise"), o.exercises, p.exercise && p.exercise !== "auto" ? p.exercise : st.exercise);
    opts($("f-view"), o.views, p.view && p.view !== "auto" ? p.view : est);
    opts($("f-rotate"), o.rotations, p.rotate || 0, (v) => v + "°");
    $("f-flip").checked = !!p.flip;
    formFilled = true;
  }

  function render(st) {
    edges = st.options.edges || edges;
    const left = st.closes_in;
    $("closes").textContent = "closes in " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    const v = st.view;
    const viewEl = $("view");
    viewEl.textContent = v && v.view
      ? "view: " + v.view + (v.facing ? ", " + v.facing + " side to camera" : "")
      : "view: unknown";
    // The view the camera was saved for, when the person is seen from another one.
    const saved = st.placement && st.placement.view;
    const differs = saved && saved !== "auto" && v && v.view && v.view !== saved;
    if (differs) viewEl.textContent += " (placed for " + saved + ")";
    viewEl.className = "badge " + (v && v.view && !differs ? "ok" : "warn");
    $("state").textContent = st.state ? st.state.replace(/_/g, " ") : "waiting";

    const f = st.framing;
    const fl = $("framing");
    fl.replaceChildren();
    if (!f) {
      $("whole").textContent = "no picture yet";
    } else {
      $("whole").textContent = !f.person ? "nobody in view"
        : f.whole_body ? "✓ whole body in frame" : "✗ not the whole body: " + f.cut_off.join(", ") + " cut off";
      $("whole").className = "line " + (f.person && f.whole_body ? "" : "bad");
      // Each problem once, with what to do about it (the hints say both).
      const used = new Set();
      const hint = (prefix, fallback) => {
        const h = f.hints.find((x) => x.startsWith(prefix));
        if (h) used.add(h);
        return h || fallback;
      };
      for (const p of f.cut_off) fl.appendChild(li("no", hint(p + " cut off", p + " cut off"), ""));
      for (const p of f.hidden) fl.appendChild(li("warn", p + " hidden", "inside the picture but not visible"));
      fl.appendChild(li(f.too_dark ? "no" : "yes", f.too_dark ? hint("too dark", "too dark") : "light ok",
        f.luma === null ? "" : "brightness " + Math.round(f.luma) + "/255"));
      if (f.height !== null) {
        fl.appendChild(li(f.too_far ? "no" : "yes", f.too_far ? hint("too far", "too far") : "distance ok",
          "person is " + Math.round(f.height * 100) + "% of the picture height"));
      }
      for (const h of f.hints) if (!used.has(h)) fl.appendChild(li("warn", h, ""));
    }

    $("exercise-name").textContent = st.exercise ? st.exercise.replace(/_/g, " ") : "";
    const cl = $("conditions");
    cl.replaceChildren();
    for (const c of st.conditions) {
      cl.appendChild(li(c.judgeable ? "yes" : "no", c.cue,
        c.judgeable ? "" : (c.reason || "") + " (seen from " + c.views.join("/") + ")"));
    }
    $("suggestion").textContent = st.suggestion || "";

    $("reps").textContent = st.reps; $("good").textContent = st.good; $("bad").textContent = st.bad;
    const last = st.last;
    $("last").textContent = !last ? "no rep yet"
      : "last rep " + last.rep + ": " + (last.correct === true ? "good" : last.correct === false ? "bad" : "not judged")
        + (last.cues.length ? " (" + last.cues.join("; ") + ")" : "")
        + (last.view && last.view.view ? ", seen from the " + last.view.view : "")
        + (last.not_judged && last.not_judged.length ? "; not judged: " + last.not_judged.join(", ") : "");
    if (!formFilled) fillForm(st);
    if (st.reps !== historyReps) { historyReps = st.reps; loadHistory(); }
  }

  async function statusLoop() {
    try {
      const r = await fetch("/api/status", { cache: "no-store", credentials: "same-origin" });
      if (gone(r.status)) return;
      misses = 0;
      if (r.ok) render(await r.json());
    } catch (e) {
      if (++misses >= GONE_AFTER) { showClosed("The setup page has closed. The station goes on counting."); return; }
    }
    if (!closed) setTimeout(statusLoop, STATUS_MS);
  }

  $("placement").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      exercise: $("f-exercise").value, view: $("f-view").value,
      rotate: parseInt($("f-rotate").value, 10), flip: $("f-flip").checked,
    };
    $("saved").textContent = "saving…";
    try {
      const r = await fetch("/api/save", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (gone(r.status)) return;
      const d = await r.json();
      $("saved").textContent = r.ok ? "✓ " + (d.message || "saved") : "✗ " + (d.error || "not saved");
    } catch (e) { $("saved").textContent = "✗ the station did not answer"; }
  });

  // The rep history: reloaded when the rep count changes; each rep can be marked wrong or right.
  let historyReps = -1;
  function cell(text) { return Object.assign(document.createElement("td"), { textContent: text }); }
  function verdictText(v) { return v === true ? "good" : v === false ? "bad" : "not judged"; }

  async function markRep(id, ok) {
    $("history-msg").textContent = "saving…";
    try {
      const r = await fetch("/api/history/correct", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: id, verdict_ok: ok }),
      });
      if (gone(r.status)) return;
      const d = await r.json();
      $("history-msg").textContent = r.ok ? "✓ rep " + d.rep.rep + " marked " + (ok ? "right" : "wrong")
        : "✗ " + (d.error || "not saved");
      if (r.ok) loadHistory();
    } catch (e) { $("history-msg").textContent = "✗ the station did not answer"; }
  }

  async function loadHistory() {
    try {
      const r = await fetch("/api/history", { cache: "no-store", credentials: "same-origin" });
      if (gone(r.status)) return;
      const d = await r.json();
      if (!r.ok) { $("history-msg").textContent = d.error || "no history"; return; }
      const body = $("history").tBodies[0];
      body.replaceChildren();
      for (const rep of d.reps) {
        const tr = document.createElement("tr");
        tr.dataset.id = rep.id;
        // three narrow columns: fits a phone without scrolling sideways
        tr.append(cell(new Date(rep.wall * 1000).toLocaleTimeString() + " · " + rep.exercise.replace(/_/g, " ")
            + " " + rep.rep),
          cell(verdictText(rep.correct) + (rep.cues.length ? ": " + rep.cues.join("; ") : "")));
        const mark = document.createElement("td");
        mark.className = "mark";
        if (rep.verdict_ok !== null) mark.append(rep.verdict_ok ? "right " : "wrong ");
        for (const [label, ok] of [["wrong", false], ["right", true]]) {
          const b = Object.assign(document.createElement("button"),
            { type: "button", textContent: label, className: "mark-" + label });
          b.addEventListener("click", () => markRep(rep.id, ok));
          mark.append(b);
        }
        tr.append(mark);
        body.append(tr);
      }
      if (!d.reps.length) $("history-msg").textContent = "no reps yet";
    } catch (e) { /* the status loop notices a closed page */ }
  }

  $("done").addEventListener("click", async () => {
    try { await fetch("/api/close", { method: "POST", credentials: "same-origin" }); } catch (e) { /* closed */ }
    showClosed("Setup closed. The station goes on counting.");
  });

  frameLoop();
  statusLoop();
})();
