// A polled fragment carries the ETag of what it shows (data-etag). Send it, so an unchanged
// experiment answers 304, and keep the fragment as it is then: htmx would swap in the empty body.
document.addEventListener("htmx:configRequest", (event) => {
  const element = event.detail.elt;
  if (element.dataset.polling && element.dataset.etag) event.detail.headers["If-None-Match"] = element.dataset.etag;
});
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 304) event.detail.shouldSwap = false;
});
