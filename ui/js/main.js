// Start-up: the service's model and prices (and the simulated-model banner), the session's API key, the
// conversation named in the URL hash, and the wiring between the parts.

import { api, apiKey, setApiKey } from "./api.js";
import { $, errorBox, fill, h } from "./dom.js";
import { setSimulated } from "./answer.js";
import { initAsk, loadOptions, showScope } from "./ask.js";
import { initCollections, refreshCollections, uploadQuery } from "./collections.js";
import { initConversations, refreshConversations } from "./conversations.js";
import { onScopeChange, refresh as refreshDocuments } from "./documents.js";
import { recordAnswer, refreshSpend } from "./spend.js";
import { followHash } from "./thread.js";
import { initUploads } from "./upload.js";

const modelNode = $("#model-status");
const noModelNode = $("#no-model-hint");
const simulatedNode = $("#simulated-banner");

async function loadInfo() {
  try {
    const info = await api.info();
    if (typeof info.max_cost_usd === "number") $("#cost-limit").placeholder = `service default $${info.max_cost_usd}`;
    // folio serve --simulated-model: the provider double answers; the service's own words say so
    simulatedNode.textContent = info.simulated_notice || "";
    simulatedNode.hidden = !info.simulated_model;
    setSimulated(info.simulated_model);
    if (info.llm_configured) {
      fill(modelNode, h("span.dot.ok", { "aria-hidden": "true" }),
        `Model: ${info.model}${info.simulated_model ? " (simulated)" : ""}`,
        h("span.muted", { title: `${info.pricing_reason}. ${info.pricing_source}` },
          ` · prices ${info.pricing_profile} (${info.prices_as_of}, ${info.pricing_reason})`));
      noModelNode.hidden = true;
    } else {
      fill(modelNode, h("span.dot.off", { "aria-hidden": "true" }), "No model configured",
        h("span.muted", {}, ` · prices ${info.pricing_profile}`));
      noModelNode.hidden = false;
    }
  } catch (error) {
    fill(modelNode, errorBox(error, "Service status unknown:"));
  }
}

function initApiKey() {
  const input = $("#api-key");
  const status = $("#api-key-status");
  const show = () => {
    status.textContent = apiKey() ? "A key is set for this tab." : "No key set.";
  };
  input.value = apiKey();
  show();
  $("#api-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    show();
    loadInfo();
    refreshDocuments();
    refreshConversations().then(followHash);
    refreshCollections();
    refreshSpend();
  });
  $("#api-key-clear").addEventListener("click", () => {
    input.value = "";
    setApiKey("");
    show();
  });
}

initApiKey();
onScopeChange(showScope);
initUploads(() => Promise.all([refreshDocuments(), refreshCollections()]), uploadQuery);
initCollections();
initConversations();
initAsk(async (answer) => {
  if (answer) recordAnswer(answer);
  await refreshConversations(); // the Spend tab names the conversations by the list's titles
  refreshSpend();
});
document.addEventListener("folio:documents-changed", () => refreshSpend());
document.addEventListener("folio:conversations-changed", () => refreshSpend());
window.addEventListener("hashchange", () => followHash());
// the skip link moves the focus to the question without replacing the hash that names the conversation
$("a.skip").addEventListener("click", (event) => {
  event.preventDefault();
  $("#question").focus();
});
await Promise.all([loadInfo(), loadOptions(), refreshDocuments(), refreshConversations(), refreshCollections()]);
await followHash();
await refreshSpend();
document.body.dataset.ready = "true";
