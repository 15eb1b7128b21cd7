// Allure 3 configuration for posrig's report: one HTML file that opens from disk, a
// history file kept between nightly runs so trends show, and the categories a vendor
// reads first (terminal defect, station fault, rig defect) from categories.json.
import { readFileSync } from "node:fs";
import { defineConfig } from "allure";

const categories = JSON.parse(readFileSync(new URL("./categories.json", import.meta.url), "utf-8"));

export default defineConfig({
  name: "posrig certification report",
  output: "./report",
  // relative to the directory `allure generate` runs in: `posrig run` runs it in --out
  historyPath: "./allure-history.jsonl",
  categories: categories.map(({ description, ...rule }) => rule),
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportLanguage: "en",
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
});
