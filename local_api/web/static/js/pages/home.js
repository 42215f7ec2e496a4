// The start page sends each role where its work is.

import { boot } from "../app.js";
import { $ } from "../dom.js";

const FIRST = {
  operator: ["jobs", "board"],
  crew: ["day", "calendar"],
  office: ["board", "day", "shows"],
  admin: ["board", "day", "shows"],
};

async function main() {
  const user = await boot();
  for (const name of [...(FIRST[user.role] || []), "messages"]) {
    const link = $(`#nav a[href="/app/${name}"]`);
    if (link && !link.hidden) { location.replace(link.getAttribute("href")); return; }
  }
}

main();
