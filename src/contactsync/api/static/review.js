// The review page's behaviour: keyboard navigation and sending decisions. The page is rendered by the server;
// this only moves the focus and posts to /review/api with the session token the page was opened with.
(function () {
  "use strict";
  const session = document.body.dataset.session;
  const status = document.getElementById("status");
  const items = () => Array.from(document.querySelectorAll("section.item"));
  const current = () => document.querySelector("section.item.current");

  function focusItem(el) {
    if (!el) return;
    items().forEach((i) => i.classList.remove("current"));
    el.classList.add("current");
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = items();
    const at = all.indexOf(current());
    focusItem(all[Math.min(Math.max(at + step, 0), all.length - 1)]);
  }

  function nextOpen(from) {
    const all = items();
    for (let i = all.indexOf(from) + 1; i < all.length; i++) {
      if (!all[i].classList.contains("decided")) return all[i];
    }
    return from;
  }

  function chosen(item) {
    const radio = item.querySelector("input[type=radio]:checked");
    return radio ? radio.value : null;
  }

  function choose(item, index) {
    const radios = item.querySelectorAll("input[type=radio]");
    if (index < radios.length) {
      radios[index].checked = true;
      showCandidate(item);
    }
  }

  function showCandidate(item) {
    const app = chosen(item);
    item.querySelectorAll(".candidate").forEach((c) => c.classList.toggle("hidden", c.dataset.app !== app));
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Review-Session": session },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  async function decide(item, action) {
    if (!item || item.classList.contains("decided") || item.classList.contains("busy")) return;
    item.classList.add("busy");
    const outcome = item.querySelector(".outcome");
    try {
      await post(`/review/api/items/${item.dataset.item}/decision`, { action: action, app_id: chosen(item) });
      item.classList.add("decided", action);
      outcome.textContent = { link: "linked", keep_apart: "kept apart", create: "will be created" }[action];
      focusItem(nextOpen(item));
    } catch (err) {
      outcome.textContent = "not saved: " + err.message;
    } finally {
      item.classList.remove("busy");
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) {
      const item = button.closest("section.item");
      focusItem(item);
      decide(item, button.dataset.action);
    }
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("input[type=radio]")) showCandidate(event.target.closest("section.item"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const item = current();
    if (key === "j" || key === "ArrowDown") move(1);
    else if (key === "k" || key === "ArrowUp") move(-1);
    else if (key === "l") decide(item, "link");
    else if (key === "x") decide(item, "keep_apart");
    else if (key === "c") decide(item, "create");
    else if (/^[1-9]$/.test(key) && item) choose(item, Number(key) - 1);
    else return;
    event.preventDefault();
  });
  document.getElementById("bulk").addEventListener("submit", async (event) => {
    event.preventDefault();
    const score = Number(document.getElementById("bulk-score").value);
    try {
      const done = await post("/review/api/bulk-accept", { min_score: score });
      status.textContent = `${done.linked} items linked; reloading`;
      window.location.reload();
    } catch (err) {
      status.textContent = "not saved: " + err.message;
    }
  });
})();
