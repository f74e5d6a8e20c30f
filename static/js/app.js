// Keyward console: small progressive enhancements. Every page works without this
// file except the copy buttons and the one-time reveal dialog.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // On a phone the navigation scrolls sideways in one line: bring the
  // current section into view.
  const nav = document.querySelector(".topbar nav");
  const current = nav?.querySelector("[aria-current=page]");
  if (nav && current && nav.scrollWidth > nav.clientWidth) {
    const [n, c] = [nav.getBoundingClientRect(), current.getBoundingClientRect()];
    if (c.right > n.right) nav.scrollLeft += c.right - n.right;
    if (c.left < n.left) nav.scrollLeft -= n.left - c.left;
  }

  // Permission shortcuts of a group: read only, all, none. Shown only here,
  // where they work.
  document.querySelectorAll("[data-check-group]").forEach((button) => {
    const group = button.closest(".scope-group");
    if (!group) return;
    button.closest("[hidden]")?.removeAttribute("hidden");
    button.addEventListener("click", () => {
      group.querySelectorAll("input[type=checkbox]").forEach((box) => {
        const mode = button.dataset.check;
        box.checked = mode === "all" || (mode === "read" && box.value.endsWith(":read"));
      });
    });
  });

  // Copy buttons: <button data-copy-target="id">.
  document.querySelectorAll("[data-copy-target]").forEach((button) => {
    button.addEventListener("click", async () => {
      const target = document.getElementById(button.dataset.copyTarget);
      if (!target) return;
      const text = (target.value !== undefined ? target.value : target.textContent).trim();
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        if (target.select) { target.select(); }
        button.textContent = "Press Ctrl+C";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  });

  // One-time secrets: the reveal dialog is modal; closing it, or leaving the page,
  // wipes the value, so neither the page nor the back/forward cache keeps it.
  const wipe = () => {
    document.querySelectorAll("[data-secret]").forEach((el) => {
      el.value = "";
      el.setAttribute("value", "");
    });
  };
  const reveal = document.getElementById("reveal");
  if (reveal && reveal.open && typeof reveal.showModal === "function") {
    // Not close(): its "close" event would arrive later and wipe the new key.
    reveal.removeAttribute("open");
    reveal.showModal();
    const copy = reveal.querySelector("[data-copy-target]");
    if (copy) copy.focus();
  }
  if (reveal) {
    const dismiss = () => {
      wipe();
      reveal.remove();
    };
    // Escape closes the dialog too; its "close" event arrives a moment later.
    reveal.addEventListener("close", dismiss);
    // The button wipes at once, not when that event comes.
    const done = reveal.querySelector("[data-close-reveal]");
    if (done) done.addEventListener("click", () => { reveal.close(); dismiss(); });
  }

  // Scope groups: keep "n of m selected" true while boxes are ticked.
  document.querySelectorAll("details.scope-group").forEach((group) => {
    const count = group.querySelector("[data-selected-count]");
    if (!count) return;
    const boxes = group.querySelectorAll("input[type=checkbox]");
    const update = () => {
      const n = Array.from(boxes).filter((b) => b.checked).length;
      count.textContent = `${n} of ${boxes.length} selected`;
    };
    boxes.forEach((b) => b.addEventListener("change", update));
  });

  // Pages of several sections (Settings): saving one reloads the page, so
  // unsaved edits in the others would be lost without a word. Ask first.
  const sections = Array.from(document.querySelectorAll("form[data-section]"));
  const snapshot = (form) => new URLSearchParams(new FormData(form)).toString();
  const initial = new Map(sections.map((form) => [form, snapshot(form)]));
  sections.forEach((form) => {
    form.addEventListener("submit", (event) => {
      const changed = sections
        .filter((other) => other !== form && snapshot(other) !== initial.get(other))
        .map((other) => other.dataset.section);
      if (changed.length === 0) return;
      const message = `Saving ${form.dataset.section} discards your unsaved changes in ${changed.join(", ")}. Save ${form.dataset.section} anyway?`;
      if (!window.confirm(message)) event.preventDefault();
    });
  });

  // Error summary (GOV.UK pattern): focused when the page loads, whatever else
  // asks for autofocus; a link focuses its control (the first choice of a
  // group) with its label in view, which a bare fragment link does not.
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
    summary.querySelectorAll("a[href^='#']").forEach((link) => {
      link.addEventListener("click", (event) => {
        const target = document.getElementById(link.getAttribute("href").slice(1));
        if (!target) return;
        const control = target.matches("input, select, textarea, button")
          ? target
          : target.querySelector("input, select, textarea, button");
        if (!control) return;
        event.preventDefault();
        // A choice inside a closed group cannot take the focus: open it.
        const group = control.closest("details");
        if (group) group.open = true;
        const label = control.closest("fieldset")?.querySelector("legend")
          || document.querySelector(`label[for="${control.id}"]`) || control;
        label.scrollIntoView({ block: "start" });
        control.focus({ preventScroll: true });
      });
    });
  }

  // A field that belongs to one radio choice (the custom expiry date):
  // typing in it chooses it.
  document.querySelectorAll("[data-choose]").forEach((input) => {
    input.addEventListener("input", () => {
      const radio = document.getElementById(input.dataset.choose);
      if (radio) radio.checked = true;
    });
  });

  // Confirmations: <form data-confirm="message">.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Times: <time datetime="..."> shows a relative time, the exact one on hover.
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  document.querySelectorAll("time[data-relative]").forEach((el) => {
    const when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) return;
    const seconds = (when - Date.now()) / 1000;
    const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || ["second", 1];
    // The exact time on hover, in the organization's zone and in UTC.
    el.title = el.title ? `${el.textContent.trim()} (${el.title})` : el.textContent.trim();
    el.textContent = rtf.format(Math.round(seconds / size), unit);
  });
});

window.addEventListener("pagehide", () => {
  if (document.querySelector("[data-one-time]")) {
    document.querySelectorAll("[data-secret]").forEach((el) => { el.value = ""; el.setAttribute("value", ""); });
  }
});
window.addEventListener("pageshow", (event) => {
  const oneTime = document.querySelector("[data-one-time]");
  if (event.persisted && oneTime) {
    location.replace(oneTime.dataset.leaveTo || location.href);
  }
});

// Passkeys and security keys (WebAuthn). A form with data-passkey-get asks
// its URL for a challenge, lets the browser sign it with a registered
// passkey, and posts the answer in the form's hidden passkey field; one with
// data-passkey-create registers a new passkey the same way. The server keeps
// the challenge and checks everything.
(() => {
  const toBytes = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buf) => {
    if (!buf) return null;
    let bin = "";
    new Uint8Array(buf).forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  // Drops null members: the browser's dictionaries take absent, not null.
  const clean = (v) => {
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === "object") {
      const out = {};
      Object.entries(v).forEach(([k, x]) => { if (x !== null && x !== undefined) out[k] = clean(x); });
      return out;
    }
    return v;
  };
  const creationOptions = (o) => {
    const pk = clean(o.publicKey);
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return { publicKey: pk };
  };
  const requestOptions = (o) => {
    const pk = clean(o.publicKey);
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return { publicKey: pk };
  };
  const registration = (c) => ({
    id: c.id, rawId: toText(c.rawId), type: c.type,
    response: {
      attestationObject: toText(c.response.attestationObject),
      clientDataJSON: toText(c.response.clientDataJSON),
      transports: c.response.getTransports ? c.response.getTransports() : undefined,
    },
    clientExtensionResults: c.getClientExtensionResults(),
  });
  const assertion = (c) => ({
    id: c.id, rawId: toText(c.rawId), type: c.type,
    response: {
      authenticatorData: toText(c.response.authenticatorData),
      clientDataJSON: toText(c.response.clientDataJSON),
      signature: toText(c.response.signature),
      userHandle: toText(c.response.userHandle),
    },
    clientExtensionResults: c.getClientExtensionResults(),
  });
  const run = async (form, url, create) => {
    const error = form.querySelector("[data-passkey-error]");
    const field = form.querySelector("input[name$='passkey']");
    if (error) { error.hidden = true; error.textContent = ""; }
    try {
      if (!window.PublicKeyCredential) throw new Error("This browser does not support passkeys.");
      const token = form.querySelector("input[name='csrf_token']");
      const answer = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        body: new URLSearchParams({ csrf_token: token ? token.value : "" }),
      });
      if (!answer.ok) throw new Error("The server could not start the passkey check. Reload the page and try again.");
      const options = await answer.json();
      const credential = create
        ? await navigator.credentials.create(creationOptions(options))
        : await navigator.credentials.get(requestOptions(options));
      field.value = JSON.stringify(create ? registration(credential) : assertion(credential));
      form.submit();
    } catch (e) {
      if (error) {
        error.textContent = e && e.name === "NotAllowedError"
          ? "The passkey prompt was closed or timed out. Try again."
          : (e && e.message) || "The passkey could not be used.";
        error.hidden = false;
      }
    }
  };
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const get = form.dataset.passkeyGet;
    const create = form.dataset.passkeyCreate;
    if (!get && !create) return;
    const field = form.querySelector("input[name$='passkey']");
    if (field && field.value) return;
    event.preventDefault();
    run(form, get || create, Boolean(create));
  });
})();
