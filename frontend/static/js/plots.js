// Draws every [data-vega-spec] element (its value: a URL answering the Vega-Lite spec as JSON)
// with the vendored vega-embed. The server-rendered content inside stays until the plot is
// drawn, and stays for good without JavaScript or when the spec cannot be fetched.
// A changed data-vega-version, or an htmx swap, draws the plot again.
(() => {
  if (typeof window.vegaEmbed !== "function") return;

  // ast: true evaluates expressions with the interpreter bundled in vega-embed instead of
  // new Function, so the pages work under a Content-Security-Policy without 'unsafe-eval'.
  const options = { actions: false, renderer: "svg", ast: true };
  const drawn = new WeakMap(); // element -> {key, view}

  async function draw(element) {
    const key = `${element.dataset.vegaSpec}#${element.dataset.vegaVersion || ""}`;
    const previous = drawn.get(element);
    if (previous && previous.key === key) return;
    drawn.set(element, { key, view: previous && previous.view });
    try {
      const response = await fetch(element.dataset.vegaSpec, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const spec = await response.json();
      if (drawn.get(element).key !== key) return; // a newer version started meanwhile
      const result = await window.vegaEmbed(element, spec, options);
      const current = drawn.get(element);
      if (current.view) current.view.finalize();
      drawn.set(element, { key, view: result.view });
      element.dataset.vegaDrawn = key;
    } catch (error) {
      const current = drawn.get(element);
      if (current.key === key) drawn.set(element, { key: null, view: current.view }); // retry on the next change
      element.dataset.vegaError = String(error);
    }
  }

  function drawWithin(root) {
    if (root.matches && root.matches("[data-vega-spec]")) draw(root);
    for (const element of root.querySelectorAll("[data-vega-spec]")) draw(element);
  }

  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.target.matches("[data-vega-spec]")) draw(mutation.target);
    }
  }).observe(document.documentElement, {
    subtree: true,
    attributes: true,
    attributeFilter: ["data-vega-spec", "data-vega-version"],
  });
  document.addEventListener("htmx:afterSwap", (event) => drawWithin(event.target));

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawWithin(document));
  } else {
    drawWithin(document);
  }
})();
