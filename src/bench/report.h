// Benchmark reports: rows of results with named columns, written as a terminal table, Markdown,
// CSV or JSON Lines, each with a preamble (command, commit, host, devices, environment).
// JSON Lines is the machine format: line 1 is {"preamble":..., "columns":..., "key_columns":...,
// "metric":..., "higher_is_better":...}; every further line is one result row. It is what
// --baseline reads back.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace primus::bench {

struct Column {
  std::string key;        // JSON key of the row value and the CSV header
  std::string header;     // terminal and Markdown header (defaults to key)
  int precision = -1;     // digits after the point for floating values; -1 = shortest form
};

struct Report {
  std::string title;                      // "gemm", "collective", ...
  nlohmann::json preamble = nlohmann::json::object();
  std::vector<Column> columns;
  std::vector<nlohmann::json> rows;       // objects keyed by Column::key; missing values print "-"
  std::vector<std::string> key_columns;   // identify one row across runs (baseline matching)
  std::string metric;                     // the column a baseline comparison looks at
  bool higher_is_better = true;           // direction of the metric
};

// One cell as text: numbers with the column's precision, strings as they are, null as "-".
std::string report_cell(const nlohmann::json& value, const Column& column);

std::string report_table(const Report& report);      // aligned columns for the terminal
std::string report_markdown(const Report& report);   // preamble bullets, then a pipe table
std::string report_csv(const Report& report);        // "# key: value" preamble lines, header, rows
std::string report_jsonl(const Report& report);

// Writes by extension: .md, .csv or .jsonl (.json is taken as .jsonl). Throws primus::Error.
void report_write(const Report& report, const std::string& path);

// Reads a .jsonl report written by report_write. Throws primus::Error naming the file and line.
Report report_read_jsonl(const std::string& path);

}  // namespace primus::bench
