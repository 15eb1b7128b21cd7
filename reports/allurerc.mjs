// Allure 3 configuration for posrig's report: one HTML file that opens from disk, and a
// history file kept between nightly runs so trends show.
import { defineConfig } from "allure";

export default defineConfig({
  name: "posrig certification report",
  output: "./report",
  historyPath: "./allure-history.jsonl",
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
