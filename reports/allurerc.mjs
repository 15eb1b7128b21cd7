// Allure 3 configuration for posrig's report: one HTML file that opens from disk, a
// history file kept between nightly runs so trends show, and the categories a vendor
// reads first (terminal defect, station fault, rig defect) from categories.json.
//
// A trend per terminal: every result carries the labels `terminal_model` and `firmware`
// (harness/report_results.py), and each model and firmware the results name is an Allure
// environment here, so the report's environment picker shows one terminal's results and
// its trend charts across nights. The history id leaves model and firmware out, so a
// test's own history runs on across a firmware change; the environment tells them apart.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig } from "allure";

// Node.js 20 (the README's minimum) lacks the iterator helpers Node 22 added, and allure
// 3.18's quality gate calls Iterator.prototype.toArray ("toArray is not a function"): the
// one helper it uses is defined here, where every allure command loads it, if missing.
const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
if (typeof iteratorPrototype.toArray !== "function") {
  Object.defineProperty(iteratorPrototype, "toArray", {
    value: function toArray() {
      return Array.from(this);
    },
    writable: true,
    configurable: true,
  });
}

const categories = JSON.parse(readFileSync(new URL("./categories.json", import.meta.url), "utf-8"));

const MODEL = "terminal_model";
const FIRMWARE = "firmware";

// The results directories named on the command line (`allure generate RESULTS ...`,
// `allure quality-gate RESULTS ...`): every argument that is a directory of result files.
function resultDirectories() {
  return process.argv.slice(2).map((arg) => resolve(arg)).filter((path) => {
    try {
      return statSync(path).isDirectory() && readdirSync(path).some((f) => f.endsWith("-result.json"));
    } catch {
      return false;
    }
  });
}

function labelOf(labels, name) {
  return (labels ?? []).find((label) => label.name === name)?.value;
}

// One environment per (terminal model, firmware) found in the results.
function terminalEnvironments() {
  const found = new Map();
  for (const directory of resultDirectories()) {
    for (const file of readdirSync(directory)) {
      if (!file.endsWith("-result.json")) continue;
      let labels;
      try {
        labels = JSON.parse(readFileSync(resolve(directory, file), "utf-8")).labels;
      } catch {
        continue; // a half-written file: Allure's reader reports it
      }
      const model = labelOf(labels, MODEL);
      const firmware = labelOf(labels, FIRMWARE);
      if (model && firmware) found.set(`${model}\u0000${firmware}`, { model, firmware });
    }
  }
  const environments = {};
  for (const { model, firmware } of found.values()) {
    // ids: latin letters, digits, "_" and "-" only; names: no "/" and at most 64 characters
    const id = `${model}_${firmware}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
    const name = `${model} firmware ${firmware}`.replace(/[/\\]/g, "-").slice(0, 64);
    environments[id] = {
      name,
      matcher: ({ labels }) => labelOf(labels, MODEL) === model && labelOf(labels, FIRMWARE) === firmware,
    };
  }
  return environments;
}

// Only a report adds a night to the history; `allure quality-gate` (harness/quality_gate.py)
// reads the same configuration and must not.
const generating = process.argv.slice(2).includes("generate");

export default defineConfig({
  name: "posrig certification report",
  output: "./report",
  // relative to the directory `allure generate` runs in: `posrig run` runs it in --out
  historyPath: "./allure-history.jsonl",
  appendHistory: generating,
  categories: categories.map(({ description, ...rule }) => rule),
  environments: terminalEnvironments(),
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
