// Preflight findings and their report: every check yields pass, warn or fail (or skip) with a
// reason and a hint; the report prints a summary table, writes Markdown or JSON, and fails when
// anything failed.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace primus::preflight {

enum class Status { kPass, kWarn, kFail, kSkip };

std::string_view status_name(Status s);   // "pass", "warn", "fail", "skip"

struct Finding {
  std::string category;   // "host", "devices", "software", "environment", "storage", "performance", "config"
  std::string check;      // short name: "memory", "free space", "dataset data/kjv/train"
  Status status = Status::kPass;
  std::string reason;     // what was found
  std::string hint;       // what to do about it (warn and fail)
  int rank = 0;           // the process that found it
};

class PreflightReport {
 public:
  void add(Finding f) { findings_.push_back(std::move(f)); }
  void add(std::string category, std::string check, Status status, std::string reason, std::string hint = {}) {
    findings_.push_back({std::move(category), std::move(check), status, std::move(reason), std::move(hint), 0});
  }
  void append(const PreflightReport& other);
  void set_rank(int rank) {
    for (auto& f : findings_) f.rank = rank;
  }
  const std::vector<Finding>& findings() const { return findings_; }
  int count(Status s) const;
  bool failed() const { return count(Status::kFail) > 0; }
  // Findings of one check (category and check name), for tests.
  const Finding* find(const std::string& category, const std::string& check_prefix) const;

  std::string table() const;       // one line per finding, hints under warn/fail, then the summary
  std::string markdown() const;
  nlohmann::json json() const;
  static PreflightReport from_json(const nlohmann::json& j);
  // By extension: .md or .json. Throws primus::Error.
  void write(const std::string& path) const;

 private:
  std::vector<Finding> findings_;
};

}  // namespace primus::preflight
