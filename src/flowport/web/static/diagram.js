// The instance's diagram, drawn by bpmn-js (global BpmnJS, the navigated viewer bundle):
// each element coloured by its state, a count of how often it was reached, and the sequence
// flows between reached elements marked as the path taken. States come from the native API
// (GET /api/v1/instances/{id}/elements) with the session cookie.
const box = document.getElementById("diagram");
const PRECEDENCE = ["failed", "waiting", "running", "completed", "cancelled"];
const MARKERS = PRECEDENCE.map((state) => "fp-" + state).concat(["fp-path", "fp-reached"]);

function say(text) {
  let note = box.querySelector(".diagram-note");
  if (!note) {
    note = document.createElement("p");
    note.className = "diagram-note";
    box.append(note);
  }
  note.textContent = text;
}

async function load(url, as) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return as === "json" ? response.json() : response.text();
}

function summarize(items) {
  const byElement = new Map();
  for (const item of items) {
    const seen = byElement.get(item.element_id) || { count: 0, states: new Set() };
    seen.count += 1;
    seen.states.add(item.state);
    byElement.set(item.element_id, seen);
  }
  for (const seen of byElement.values()) {
    seen.state = PRECEDENCE.find((state) => seen.states.has(state));
  }
  return byElement;
}

async function paint(viewer) {
  const { items } = await load(box.dataset.elements, "json");
  const registry = viewer.get("elementRegistry");
  const canvas = viewer.get("canvas");
  const overlays = viewer.get("overlays");
  overlays.remove({ type: "fp-count" });
  for (const element of registry.getAll()) {
    for (const marker of MARKERS) canvas.removeMarker(element.id, marker);
  }
  const byElement = summarize(items);
  for (const [id, seen] of byElement) {
    if (!registry.get(id)) continue; // e.g. a task of a called process, drawn elsewhere
    canvas.addMarker(id, "fp-reached");
    canvas.addMarker(id, "fp-" + seen.state);
    overlays.add(id, "fp-count", {
      position: { top: -10, right: 6 },
      html: `<span class="fp-count" title="reached ${seen.count} time(s)">${seen.count}</span>`,
    });
  }
  // A flow is on the path when its source finished and its target was reached.
  for (const flow of registry.filter((e) => e.type === "bpmn:SequenceFlow")) {
    const from = byElement.get(flow.source?.id);
    if (from && from.states.has("completed") && byElement.has(flow.target?.id)) {
      canvas.addMarker(flow.id, "fp-path");
    }
  }
  box.dataset.state = "ready";
}

async function draw() {
  if (typeof window.BpmnJS !== "function") {
    box.dataset.state = "unavailable";
    say("Diagrams unavailable: bpmn-js did not load.");
    return;
  }
  const viewer = new window.BpmnJS({ container: box });
  try {
    await viewer.importXML(await load(box.dataset.xml, "text"));
    viewer.get("canvas").zoom("fit-viewport", "auto");
    await paint(viewer);
  } catch (error) {
    box.dataset.state = "error";
    say(`The diagram could not be drawn: ${error.message}`);
    return;
  }
  document.addEventListener("console:updated", () => paint(viewer).catch(() => {}));
}

if (box) draw();
