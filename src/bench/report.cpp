// Report writers and the JSON Lines reader (see report.h).
#include "bench/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace primus::bench {
namespace {

std::string header_of(const Column& c) { return c.header.empty() ? c.key : c.header; }

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string md_escape(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.insert(i, "\\");
  return s;
}

// Flat "key: value" lines of the preamble; nested objects (env) as "env.NAME: value".
std::vector<std::pair<std::string, std::string>> preamble_lines(const nlohmann::json& p) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : p.items()) {
    if (v.is_object()) {
      for (const auto& [k2, v2] : v.items())
        out.emplace_back(k + "." + k2, v2.is_string() ? v2.get<std::string>() : v2.dump());
    } else if (v.is_array()) {
      std::string joined;
      for (const auto& e : v) joined += (joined.empty() ? "" : "; ") + (e.is_string() ? e.get<std::string>() : e.dump());
      out.emplace_back(k, joined);
    } else {
      out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return out;
}

}  // namespace

std::string report_cell(const nlohmann::json& value, const Column& column) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    return column.precision >= 0 ? fmt::format("{:.{}f}", d, column.precision) : fmt::format("{:g}", d);
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

std::string report_table(const Report& r) {
  std::vector<size_t> width;
  std::vector<std::vector<std::string>> cells;
  for (const auto& c : r.columns) width.push_back(header_of(c).size());
  for (const auto& row : r.rows) {
    std::vector<std::string> line;
    for (size_t i = 0; i < r.columns.size(); ++i) {
      line.push_back(report_cell(row.value(r.columns[i].key, nlohmann::json()), r.columns[i]));
      width[i] = std::max(width[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  for (size_t i = 0; i < r.columns.size(); ++i) out += fmt::format("{:>{}}  ", header_of(r.columns[i]), width[i]);
  out.back() = '\n';
  for (size_t i = 0; i < r.columns.size(); ++i) out += std::string(width[i], '-') + "  ";
  out.back() = '\n';
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) out += fmt::format("{:>{}}  ", line[i], width[i]);
    out.back() = '\n';
  }
  return out;
}

std::string report_markdown(const Report& r) {
  std::string out = fmt::format("## primus benchmark {}\n\n", r.title);
  for (const auto& [k, v] : preamble_lines(r.preamble)) out += fmt::format("- {}: `{}`\n", k, v);
  out += "\n|";
  for (const auto& c : r.columns) out += " " + md_escape(header_of(c)) + " |";
  out += "\n|";
  for (size_t i = 0; i < r.columns.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : r.rows) {
    out += "|";
    for (const auto& c : r.columns) out += " " + md_escape(report_cell(row.value(c.key, nlohmann::json()), c)) + " |";
    out += "\n";
  }
  return out;
}

std::string report_csv(const Report& r) {
  std::string out;
  for (const auto& [k, v] : preamble_lines(r.preamble)) {
    std::string flat = v;
    std::replace(flat.begin(), flat.end(), '\n', ' ');
    out += fmt::format("# {}: {}\n", k, flat);
  }
  for (size_t i = 0; i < r.columns.size(); ++i) out += (i ? "," : "") + csv_escape(r.columns[i].key);
  out += "\n";
  for (const auto& row : r.rows) {
    for (size_t i = 0; i < r.columns.size(); ++i) {
      const auto& v = row.value(r.columns[i].key, nlohmann::json());
      std::string cell = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
      out += (i ? "," : "") + csv_escape(cell);
    }
    out += "\n";
  }
  return out;
}

std::string report_jsonl(const Report& r) {
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& c : r.columns) cols.push_back({{"key", c.key}, {"header", header_of(c)}, {"precision", c.precision}});
  nlohmann::json head = {{"title", r.title},       {"preamble", r.preamble}, {"columns", cols},
                         {"key_columns", r.key_columns}, {"metric", r.metric}, {"higher_is_better", r.higher_is_better}};
  std::string out = head.dump() + "\n";
  for (const auto& row : r.rows) out += row.dump() + "\n";
  return out;
}

void report_write(const Report& r, const std::string& path) {
  std::string ext = path.substr(std::min(path.size(), path.rfind('.') == std::string::npos ? path.size() : path.rfind('.')));
  std::string text;
  if (ext == ".md") text = report_markdown(r);
  else if (ext == ".csv") text = report_csv(r);
  else if (ext == ".jsonl" || ext == ".json") text = report_jsonl(r);
  else throw usage_error(fmt::format("--out {}: unknown report format '{}'", path, ext), "use a .md, .csv or .jsonl file");
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("cannot write report {}", path), "check that the folder exists and is writable");
  f << text;
  if (!f) throw Error(fmt::format("writing report {} failed", path), "is the disk full?");
}

Report report_read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(fmt::format("cannot open report {}", path), "give a .jsonl file written by --out");
  Report r;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}:{}: not valid JSON ({})", path, lineno, e.what()),
                  "the baseline must be a .jsonl report written by --out");
    }
    if (lineno == 1) {
      if (!j.contains("columns")) throw Error(fmt::format("{}:1: no report header line", path), "the baseline must be a .jsonl report written by --out");
      r.title = j.value("title", "");
      r.preamble = j.value("preamble", nlohmann::json::object());
      for (const auto& c : j["columns"]) r.columns.push_back({c.value("key", ""), c.value("header", ""), c.value("precision", -1)});
      r.key_columns = j.value("key_columns", std::vector<std::string>{});
      r.metric = j.value("metric", "");
      r.higher_is_better = j.value("higher_is_better", true);
    } else {
      r.rows.push_back(std::move(j));
    }
  }
  if (lineno == 0) throw Error(fmt::format("report {} is empty", path));
  return r;
}

}  // namespace primus::bench
