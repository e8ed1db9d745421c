// The intake form's "add a party" button (templates/mediation/case_new.html): a copy of the spare
// fieldset in <template id="party-template">, numbered after the last party (parties-N-…). Without
// JavaScript the button stays hidden and the page still offers its two party fieldsets.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("[data-add-party]");
  const template = document.getElementById("party-template");
  const list = document.getElementById("parties");
  if (!button || !template || !list) return;
  const max = Number(button.dataset.max) || 50;
  button.hidden = false;
  button.addEventListener("click", () => {
    const numbers = [...list.querySelectorAll("[data-party]")].map((el) => Number(el.dataset.party) || 0);
    const next = numbers.length ? Math.max(...numbers) + 1 : 0;
    if (next >= max) {
      button.disabled = true;
      return;
    }
    const html = template.innerHTML.replaceAll("__NUMBER__", String(next + 1)).replaceAll("__N__", String(next));
    list.insertAdjacentHTML("beforeend", html);
    const added = list.lastElementChild;
    if (window.htmx) window.htmx.process(added);
    const name = added.querySelector("input[name$='-name']");
    if (name) name.focus();
  });
});
