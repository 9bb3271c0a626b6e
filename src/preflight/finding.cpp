// Preflight report rendering (see finding.h).
#include "preflight/finding.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"

namespace primus::preflight {

std::string_view status_name(Status s) {
  switch (s) {
    case Status::kPass: return "pass";
    case Status::kWarn: return "warn";
    case Status::kFail: return "fail";
    case Status::kSkip: return "skip";
  }
  return "?";
}

namespace {

Status status_parse(const std::string& s) {
  if (s == "warn") return Status::kWarn;
  if (s == "fail") return Status::kFail;
  if (s == "skip") return Status::kSkip;
  return Status::kPass;
}

std::string md_cell(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.insert(i, "\\");
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

void PreflightReport::append(const PreflightReport& other) {
  findings_.insert(findings_.end(), other.findings_.begin(), other.findings_.end());
}

int PreflightReport::count(Status s) const {
  return static_cast<int>(std::count_if(findings_.begin(), findings_.end(), [s](const Finding& f) { return f.status == s; }));
}

const Finding* PreflightReport::find(const std::string& category, const std::string& check_prefix) const {
  for (const auto& f : findings_)
    if (f.category == category && f.check.rfind(check_prefix, 0) == 0) return &f;
  return nullptr;
}

std::string PreflightReport::table() const {
  size_t wc = 8, wk = 5;
  bool ranks = false;
  for (const auto& f : findings_) {
    wc = std::max(wc, f.category.size());
    wk = std::max(wk, std::min<size_t>(f.check.size(), 36));
    ranks = ranks || f.rank != 0;
  }
  std::string out;
  for (const auto& f : findings_) {
    std::string who = ranks ? fmt::format("[rank {}] ", f.rank) : "";
    out += fmt::format("{}  {:<{}}  {:<{}}  {}{}\n", status_name(f.status), f.category, wc, f.check, wk, who, f.reason);
    if (!f.hint.empty() && (f.status == Status::kWarn || f.status == Status::kFail))
      out += fmt::format("      {:<{}}  {:<{}}  hint: {}\n", "", wc, "", wk, f.hint);
  }
  out += fmt::format("\npreflight: {} passed, {} warnings, {} failed, {} skipped\n", count(Status::kPass),
                     count(Status::kWarn), count(Status::kFail), count(Status::kSkip));
  return out;
}

std::string PreflightReport::markdown() const {
  std::string out = "# primus preflight\n\n| status | category | check | rank | finding | hint |\n|---|---|---|---|---|---|\n";
  for (const auto& f : findings_)
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", status_name(f.status), md_cell(f.category), md_cell(f.check), f.rank,
                       md_cell(f.reason), md_cell(f.hint));
  out += fmt::format("\n**{} passed, {} warnings, {} failed, {} skipped**\n", count(Status::kPass), count(Status::kWarn),
                     count(Status::kFail), count(Status::kSkip));
  return out;
}

nlohmann::json PreflightReport::json() const {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& f : findings_)
    items.push_back({{"category", f.category}, {"check", f.check}, {"status", status_name(f.status)},
                     {"reason", f.reason}, {"hint", f.hint}, {"rank", f.rank}});
  return {{"findings", items},
          {"summary", {{"pass", count(Status::kPass)}, {"warn", count(Status::kWarn)}, {"fail", count(Status::kFail)},
                       {"skip", count(Status::kSkip)}}},
          {"ok", !failed()}};
}

PreflightReport PreflightReport::from_json(const nlohmann::json& j) {
  PreflightReport r;
  for (const auto& f : j.value("findings", nlohmann::json::array()))
    r.add({f.value("category", ""), f.value("check", ""), status_parse(f.value("status", "")), f.value("reason", ""),
           f.value("hint", ""), f.value("rank", 0)});
  return r;
}

void PreflightReport::write(const std::string& path) const {
  std::string text;
  if (path.size() >= 3 && path.ends_with(".md")) text = markdown();
  else if (path.size() >= 5 && path.ends_with(".json")) text = json().dump(2) + "\n";
  else throw usage_error(fmt::format("--out {}: unknown report format", path), "use a .md or .json file");
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("cannot write {}", path), "check that the folder exists and is writable");
  f << text;
}

}  // namespace primus::preflight
