// The eval-merge reader: JSON text -> ReportFromJson -> Aggregate / FormatTable / ToJson and
// MergeReports (a report merged with itself must be refused, not double-counted).
#include <cstdint>
#include <string>
#include <vector>

#include "eval/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ev = lmul::eval;
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto r = ev::ReportFromJson("fuzz.json", j);
  if (!r.ok()) return 0;
  const auto rows = ev::Aggregate(*r);
  (void)ev::FormatTable(*r, rows);
  (void)ev::ToJson(*r, rows).dump();
  (void)ev::MergeReports({*r}, {"a.json"}, false);
  (void)ev::MergeReports({*r, *r}, {"a.json", "b.json"}, true);
  return 0;
}
