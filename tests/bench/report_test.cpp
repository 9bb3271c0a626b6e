// Report formats parse (JSON Lines, CSV, Markdown), sweeps parse, baselines flag regressions, SVG renders.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/baseline.h"
#include "bench/report.h"
#include "bench/svg_chart.h"
#include "bench/sweep.h"
#include "core/error.h"

namespace primus::bench {
namespace {

Report sample_report(double scale = 1.0) {
  Report r;
  r.title = "gemm";
  r.preamble = {{"command", "primus benchmark gemm --m 1,2"}, {"commit", "abc"}, {"env", {{"NCCL_DEBUG", "INFO"}}}};
  r.columns = {{"m", "M"}, {"layout", "layout"}, {"tflops", "TFLOP/s", 2}, {"note", "note"}};
  r.key_columns = {"m", "layout"};
  r.metric = "tflops";
  r.rows = {{{"m", 1024}, {"layout", "nt"}, {"tflops", 10.0 * scale}, {"note", "a,b \"quoted\" | piped"}},
            {{"m", 2048}, {"layout", "nt"}, {"tflops", 20.0 * scale}},
            {{"m", 2048}, {"layout", "nn"}, {"tflops", 30.0 * scale}, {"note", "plain"}}};
  return r;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Splits one CSV record, honoring quotes.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> f(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') f.back() += '"', ++i;
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) f.emplace_back();
    else f.back() += c;
  }
  return f;
}

TEST(Sweep, ValuesListsAndRanges) {
  EXPECT_EQ(sweep_parse("4096", "--m"), (std::vector<int64_t>{4096}));
  EXPECT_EQ(sweep_parse("1024,2048", "--m"), (std::vector<int64_t>{1024, 2048}));
  EXPECT_EQ(sweep_parse("1024:8192:x2", "--m"), (std::vector<int64_t>{1024, 2048, 4096, 8192}));
  EXPECT_EQ(sweep_parse("512:2048:+512", "--m"), (std::vector<int64_t>{512, 1024, 1536, 2048}));
  EXPECT_EQ(sweep_parse("1k:4k:x4, 7", "--m"), (std::vector<int64_t>{1024, 4096, 7}));
  EXPECT_EQ(sweep_parse("1:10:x3", "--m"), (std::vector<int64_t>{1, 3, 9}));
}

TEST(Sweep, BadInputNamesTheOption) {
  for (const char* bad : {"", "abc", "8:4:x2", "1:8:x1", "1:8", "4,,8", "0", "1:8:+0"}) {
    try {
      sweep_parse(bad, "--k");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--k"), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_code(), 2);
    }
  }
}

TEST(Report, JsonlEveryLineParses) {
  Report r = sample_report();
  auto lines = lines_of(report_jsonl(r));
  ASSERT_EQ(lines.size(), 1 + r.rows.size());
  auto head = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(head["preamble"]["commit"], "abc");
  EXPECT_EQ(head["metric"], "tflops");
  for (size_t i = 1; i < lines.size(); ++i) {
    auto row = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(row["m"], r.rows[i - 1]["m"]);
  }
}

TEST(Report, CsvHasOneFieldPerColumn) {
  Report r = sample_report();
  auto lines = lines_of(report_csv(r));
  int records = 0;
  bool preamble = false;
  for (const auto& l : lines) {
    if (l.rfind("# ", 0) == 0) {
      preamble = preamble || l.find("command: primus benchmark gemm") != std::string::npos;
      continue;
    }
    EXPECT_EQ(csv_fields(l).size(), r.columns.size()) << l;
    ++records;
  }
  EXPECT_TRUE(preamble);
  EXPECT_EQ(records, 1 + static_cast<int>(r.rows.size()));
  EXPECT_NE(report_csv(r).find("\"a,b \"\"quoted\"\" | piped\""), std::string::npos);
}

TEST(Report, MarkdownTableIsWellFormed) {
  Report r = sample_report();
  auto lines = lines_of(report_markdown(r));
  int table_lines = 0;
  for (const auto& l : lines) {
    if (l.empty() || l[0] != '|') continue;
    int pipes = 0;
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i] == '|' && (i == 0 || l[i - 1] != '\\')) ++pipes;
    EXPECT_EQ(pipes, static_cast<int>(r.columns.size()) + 1) << l;
    ++table_lines;
  }
  EXPECT_EQ(table_lines, 2 + static_cast<int>(r.rows.size()));  // header, separator, rows
  EXPECT_NE(report_markdown(r).find("- commit: `abc`"), std::string::npos);
  EXPECT_NE(report_markdown(r).find("10.00"), std::string::npos);  // the column's precision
}

TEST(Report, WriteAndReadBack) {
  Report r = sample_report();
  std::string path = ::testing::TempDir() + "/report_roundtrip.jsonl";
  report_write(r, path);
  Report back = report_read_jsonl(path);
  EXPECT_EQ(back.title, r.title);
  EXPECT_EQ(back.key_columns, r.key_columns);
  ASSERT_EQ(back.rows.size(), r.rows.size());
  EXPECT_EQ(back.rows[2]["tflops"], 30.0);
  EXPECT_THROW(report_write(r, ::testing::TempDir() + "/x.txt"), Error);
  std::ofstream(path) << "{not json\n";
  EXPECT_THROW(report_read_jsonl(path), Error);
}

TEST(Baseline, EqualRunPasses) {
  auto cmp = baseline_compare(sample_report(), sample_report(), 5.0);
  EXPECT_EQ(cmp.compared, 3);
  EXPECT_TRUE(cmp.regressions.empty());
  EXPECT_TRUE(cmp.unmatched.empty());
}

TEST(Baseline, FlagsEveryPlantedRegression) {
  Report cur = sample_report();
  cur.rows[0]["tflops"] = 9.0;    // -10%: regression at 5%
  cur.rows[1]["tflops"] = 19.5;   // -2.5%: within tolerance
  cur.rows[2]["tflops"] = 15.0;   // -50%: regression
  auto cmp = baseline_compare(cur, sample_report(), 5.0);
  ASSERT_EQ(cmp.regressions.size(), 2u);
  EXPECT_EQ(cmp.regressions[0].key, "m=1024 layout=nt");
  EXPECT_NEAR(cmp.regressions[0].change_pct, -10.0, 1e-9);
  EXPECT_EQ(cmp.regressions[1].key, "m=2048 layout=nn");
  EXPECT_NE(baseline_summary(cmp, "tflops", 5.0).find("m=2048 layout=nn"), std::string::npos);
  // Faster is never a regression; a lower-is-better metric flips the direction.
  EXPECT_TRUE(baseline_compare(sample_report(2.0), sample_report(), 5.0).regressions.empty());
  Report lat = sample_report(2.0);
  lat.higher_is_better = false;
  EXPECT_EQ(baseline_compare(lat, sample_report(), 5.0).regressions.size(), 3u);
}

TEST(Baseline, UnmatchedRowsAndWrongBenchmark) {
  Report cur = sample_report();
  cur.rows[0]["m"] = 4096;
  auto cmp = baseline_compare(cur, sample_report(), 5.0);
  EXPECT_EQ(cmp.compared, 2);
  ASSERT_EQ(cmp.unmatched.size(), 1u);
  Report other = sample_report();
  other.title = "collective";
  EXPECT_THROW(baseline_compare(cur, other, 5.0), Error);
}

TEST(Svg, RendersEverySeries) {
  Chart c{"t", "size", "TFLOP/s", true, true, {}};
  c.series.push_back({"a", {{1024, 1.0}, {2048, 2.0}, {4096, 3.0}}});
  c.series.push_back({"b <&>", {{1024, 0.5}, {4096, 1.5}}});
  std::string svg = svg_render({c, c});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t count = 0;
  for (size_t p = 0; (p = svg.find("<polyline", p)) != std::string::npos; ++p) ++count;
  EXPECT_EQ(count, 4u);
  EXPECT_NE(svg.find("b &lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">2K<"), std::string::npos);  // size tick labels
  EXPECT_THROW(svg_render({Chart{}}), Error);
}

TEST(Sweep, SizeLabels) {
  EXPECT_EQ(size_label(1024), "1K");
  EXPECT_EQ(size_label(1536), "1.5K");
  EXPECT_EQ(size_label(1 << 30), "1G");
  EXPECT_EQ(size_label(100), "100");
}

}  // namespace
}  // namespace primus::bench
