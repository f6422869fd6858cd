// The new-policy form holds every strategy's parameters; show (and submit) only the chosen strategy's.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("#new-policy form");
  const select = form && form.querySelector("select[name=strategy]");
  if (!select) return;
  const show = () => {
    for (const fieldset of form.querySelectorAll("fieldset[data-strategy]")) {
      const chosen = fieldset.dataset.strategy === select.value;
      fieldset.hidden = !chosen;
      fieldset.disabled = !chosen;
    }
  };
  select.addEventListener("change", show);
  show();
});
