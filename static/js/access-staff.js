// Copy buttons of the device credential page (templates/access/staff_device_credential.html).
// The clipboard API needs a secure context (HTTPS or localhost); elsewhere the text is selected
// for the user to copy, and the page says so beside the fields.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      field.focus();
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = button.dataset.copied || button.textContent;
      } catch (_error) {
        // Selected: the user copies it (long-press on a phone).
      }
    });
  });
  document.querySelectorAll("input[readonly][data-testid]").forEach((field) => {
    field.addEventListener("focus", () => field.select());
  });
});
