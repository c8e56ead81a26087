// Live regions: an element with data-live="SECONDS" and an id is refreshed from a fresh copy of
// this page every SECONDS while the tab is visible. A region holding what a person is typing
// (focus, or an edited field) is left alone until they are done. After a change, the event
// "console:updated" tells other scripts (the diagram) to repaint. A page answered to a form post
// (an action that failed) names the address to refresh from in data-live-url.
const regions = [...document.querySelectorAll("[data-live][id]")];
const source = document.querySelector("[data-live-url]")?.dataset.liveUrl ?? location.href;

function busy(region) {
  if (region.contains(document.activeElement) && document.activeElement.matches("input, textarea, select")) {
    return true;
  }
  return [...region.querySelectorAll("input, textarea")].some(
    (field) => field.type !== "hidden" && field.value !== field.defaultValue);
}

async function refresh() {
  if (document.hidden) return;
  let response;
  try {
    response = await fetch(source, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } });
  } catch {
    return; // the server is away for a moment; try again next time
  }
  if (response.redirected) { location.reload(); return; } // the session ended: show the login page
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  let changed = false;
  for (const region of regions) {
    const next = fresh.getElementById(region.id);
    if (!next || busy(region) || next.innerHTML === region.innerHTML) continue;
    region.innerHTML = next.innerHTML;
    changed = true;
  }
  if (changed) document.dispatchEvent(new CustomEvent("console:updated"));
}

if (regions.length) {
  const seconds = Math.min(...regions.map((r) => Number(r.dataset.live) || 5));
  setInterval(refresh, Math.max(seconds, 1) * 1000);
}
