// lmul inspect FILE.gguf [--tensors] [--key KEY]: prints a GGUF file's header, metadata
// (arrays abbreviated) and, with --tensors, its tensor table (shape outermost first).
// With a Llama model it also prints the ModelConfig the engine derives.
#include <cstdio>
#include <memory>
#include <string>

#include "base/escape.h"
#include "engine/io/gguf.h"
#include "engine/model/config.h"
#include "tools/lmul/command.h"

namespace {

using lmul::engine::GgufFile;
using lmul::engine::GgufValueType;

std::string Value(const GgufFile& g, const std::string& key) {
  auto type = g.Type(key);
  if (!type.ok()) return "?";
  switch (*type) {
    case GgufValueType::kString: {
      // Untrusted: control characters and invalid UTF-8 are shown escaped (\x1B, \n).
      return "\"" + lmul::EscapeUntrusted(*g.GetString(key), 80) + "\"";
    }
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return std::to_string(*g.GetFloat(key));
    case GgufValueType::kBool:
      return *g.GetBool(key) ? "true" : "false";
    case GgufValueType::kArray: {
      const uint64_t n = *g.ArraySize(key);
      std::string out = "[" + std::to_string(n) + " items";
      if (auto s = g.GetStringArray(key); s.ok() && n > 0) {
        out += ": \"" + lmul::EscapeUntrusted((*s)[0], 80) + "\", ...";
      } else if (auto i = g.GetIntArray(key); i.ok() && n > 0) {
        out += ": " + std::to_string((*i)[0]) + ", ...";
      } else if (auto f = g.GetFloatArray(key); f.ok() && n > 0) {
        out += ": " + std::to_string((*f)[0]) + ", ...";
      }
      return out + "]";
    }
    default: {
      auto v = g.GetInt(key);
      return v.ok() ? std::to_string(*v) : v.error();
    }
  }
}

int RunInspect(const std::string& path, bool tensors, const std::string& key) {
  auto g = GgufFile::Open(path);
  if (!g.ok()) return lmul::cli::PrintError("inspect", g.error(), "is it a GGUF v2/v3 file?");
  if (!key.empty()) {
    if (!(*g)->Has(key)) {
      return lmul::cli::PrintError("inspect",
                                   "no metadata key '" + lmul::EscapeUntrusted(key, 80) + "'");
    }
    std::printf("%s\n", Value(**g, key).c_str());
    return 0;
  }
  std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %u, data at %llu\n",
              path.c_str(), (*g)->version(), (*g)->Keys().size(), (*g)->tensors().size(),
              (*g)->alignment(), static_cast<unsigned long long>((*g)->data_offset()));
  for (const std::string& k : (*g)->Keys()) {
    std::printf("  %-45s %-8s %s\n", lmul::EscapeUntrusted(k, 80).c_str(),
                lmul::engine::GgufValueTypeName(*(*g)->Type(k)),
                Value(**g, k).c_str());
  }
  if (auto config = lmul::engine::ModelConfig::FromGguf(**g); config.ok()) {
    std::printf("config: %s\n", lmul::EscapeUntrusted(config->Summary(), 400).c_str());
  }
  if (tensors) {
    for (const auto& t : (*g)->tensors()) {
      std::printf("  %-32s %-5s %-16s %12llu bytes at %llu\n",
                  lmul::EscapeUntrusted(t.name, 80).c_str(),
                  lmul::engine::GgmlTypeName(t.type), t.ShapeString().c_str(),
                  static_cast<unsigned long long>(t.n_bytes),
                  static_cast<unsigned long long>(t.offset));
    }
  }
  return 0;
}

lmul::cli::Registrar reg("inspect", "Print a GGUF file's metadata and tensor table",
                         [](CLI::App* app) {
                           auto path = std::make_shared<std::string>();
                           auto key = std::make_shared<std::string>();
                           auto tensors = std::make_shared<bool>(false);
                           app->add_option("file", *path, "GGUF file")->required();
                           app->add_flag("--tensors", *tensors, "list tensors");
                           app->add_option("--key", *key, "print one metadata value");
                           return [=] { return RunInspect(*path, *tensors, *key); };
                         });

}  // namespace
