// The upload page: send the file with XMLHttpRequest to show the transfer's progress, then poll the import's
// state until the dataset is ready or failed. An error goes next to the field it names (the file, mostly).
(() => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const config = JSON.parse(document.getElementById("upload-config").textContent);
  const panel = document.getElementById("upload-progress");
  const transfer = panel.querySelector("[data-step=transfer]");
  const importing = panel.querySelector("[data-step=import]");
  const status = document.getElementById("import-status");
  const submit = form.querySelector("button[type=submit]");

  const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  const percent = (fraction) => `${Math.round(fraction * 100)} %`;

  function clearErrors() {
    form.querySelectorAll(".error[data-client], .form-errors[data-client]").forEach((element) => element.remove());
    form.querySelectorAll(".field.has-error").forEach((field) => field.classList.remove("has-error"));
  }

  function showError(field, message) {
    const box = form.querySelector(`.field[data-field="${field}"]`) || form.querySelector(".field[data-field=file]");
    box.classList.add("has-error");
    const line = document.createElement("p");
    line.className = "error";
    line.dataset.client = "";
    line.textContent = box.dataset.field === field || field === "__all__" ? message : `${field}: ${message}`;
    box.appendChild(line);
  }

  function showErrors(errors) {
    Object.entries(errors).forEach(([field, messages]) => messages.forEach((message) => showError(field, message)));
  }

  function setStep(step, fraction, note, state) {
    step.hidden = false;
    step.querySelector("progress").value = Math.round(fraction * 100);
    step.querySelector("[data-note]").textContent = note;
    step.dataset.state = state;
  }

  function finish(failed) {
    submit.disabled = false;
    if (failed) panel.hidden = true;
  }

  function showState(state) {
    status.textContent = state.status_label;
    status.dataset.status = state.status;
    status.className = `badge badge-${state.status}`;
    if (state.status === "ready") {
      setStep(importing, 1, `${state.name} is ready.`, "done");
      panel.querySelector(".upload-done").hidden = false;
      submit.disabled = false;
    } else if (state.status === "failed") {
      setStep(importing, state.progress, "The file was refused.", "failed");
      showError("file", state.error);
      submit.disabled = false;
    } else {
      const note = state.status === "pending" ? state.stage : `${state.stage} · ${percent(state.progress)}`;
      setStep(importing, state.progress, note, "active");
      window.setTimeout(() => poll(state.status_url), config.pollMilliseconds);
    }
  }

  function poll(url) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then(showState)
      .catch(() => window.setTimeout(() => poll(url), config.pollMilliseconds * 5));
  }

  function answered(request) {
    let body = {};
    try {
      body = JSON.parse(request.responseText);
    } catch (error) {
      body = {};
    }
    if (request.status === 202) {
      setStep(transfer, 1, "Sent.", "done");
      showState(body);
      return;
    }
    finish(true);
    if (body.errors) showErrors(body.errors);
    else if (request.status === 403) showError("file", "This upload was refused: reload the page and sign in again.");
    else if (request.status === 413) showError("file", "The file is over the upload limit.");
    else showError("file", `The upload failed (HTTP ${request.status}); try again.`);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors();
    const file = form.elements.file.files[0];
    if (file && file.size > config.maxBytes) {
      showError("file", `The file is ${megabytes(file.size)}, over the ${megabytes(config.maxBytes)} upload limit.`);
      return;
    }
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", form.elements.csrfmiddlewaretoken.value);
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const note = `${megabytes(progress.loaded)} of ${megabytes(progress.total)}`;
      setStep(transfer, progress.loaded / progress.total, note, "active");
    });
    request.addEventListener("load", () => answered(request));
    request.addEventListener("error", () => {
      finish(true);
      showError("file", "The upload was interrupted before the server answered; try again.");
    });
    panel.hidden = false;
    importing.hidden = true;
    panel.querySelector(".upload-done").hidden = true;
    setStep(transfer, 0, file ? `0 of ${megabytes(file.size)}` : "", "active");
    submit.disabled = true;
    request.send(new FormData(form));
  });
})();
