// SPDX-License-Identifier: Apache-2.0
// Zero-shot tasks: the lm-eval 0.4 prompts of LAMBADA (OpenAI), PIQA, ARC-Easy/Challenge and
// WinoGrande built from the JSONL files of ../shared/data/zeroshot/ (their README: fields,
// provenance, scoring rules). A document becomes its choices as (context, continuation) strings,
// exactly the pairs lm-eval scores; the metrics live in zeroshot_metrics.hpp.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dfrot/core/error.hpp"
#include "dfrot/io/file_read.hpp"

namespace dfrot::eval {

/// How a task is scored.
enum class TaskKind {
  kLambada,         ///< one continuation: acc = greedy match of all its tokens, and its perplexity
  kMultipleChoice,  ///< one context, a continuation per choice: acc and acc_norm
  kPartialContext,  ///< a context per choice, one shared continuation (WinoGrande): acc
};

struct ZeroShotTask {
  std::string_view name;      ///< lm-eval's task name
  std::string_view file;      ///< in the zero-shot data folder
  std::string_view column;    ///< DFRot README's column
  TaskKind kind;
  bool paper_uses_acc_norm;   ///< the papers report acc_norm (ARC-c) instead of acc
};

/// The tasks this build knows, in DFRot's README order (HellaSwag's data is not available here).
inline constexpr ZeroShotTask kZeroShotTasks[] = {
    {"piqa", "piqa.jsonl", "PQ", TaskKind::kMultipleChoice, false},
    {"winogrande", "winogrande.jsonl", "WG", TaskKind::kPartialContext, false},
    {"arc_easy", "arc_easy.jsonl", "A-e", TaskKind::kMultipleChoice, false},
    {"arc_challenge", "arc_challenge.jsonl", "A-c", TaskKind::kMultipleChoice, true},
    {"lambada_openai", "lambada_openai.jsonl", "LA", TaskKind::kLambada, false},
};

/// The task called `name` ("lambada" is lambada_openai, lm-eval's group of the same data).
/// \throws UsageError for an unknown task, saying that HellaSwag's data is not available here.
inline ZeroShotTask const& find_zeroshot_task(std::string_view name) {
  if (name == "lambada") name = "lambada_openai";
  for (ZeroShotTask const& t : kZeroShotTasks)
    if (t.name == name) return t;
  DFROT_THROW_IF(name == "hellaswag", UsageError,
                 "task hellaswag: its data is not available here (../shared/data/zeroshot has no "
                 "hellaswag file); the tables mark it n/a");
  std::string known;
  for (ZeroShotTask const& t : kZeroShotTasks) known += str_cat(known.empty() ? "" : ", ", t.name);
  throw UsageError(str_cat("unknown task '", name, "' (known: ", known, ", lambada)"));
}

/// One scored pair: log P(continuation | context).
struct ScoredPair {
  std::string context;
  std::string continuation;
};

struct ZeroShotDoc {
  std::vector<ScoredPair> choices;  ///< LAMBADA: one
  std::size_t gold = 0;
  /// lm-eval's acc_norm divisor per choice: len() of the choice string as Python counts it
  /// (Unicode code points, without the " " delimiter) — the "byte-length normalisation" of its
  /// docs, equal to the byte count for ASCII text.
  std::vector<double> norm_length;
};

/// Code points of UTF-8 text (bytes that do not continue a sequence).
inline std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace detail {

inline std::string const& string_field(nlohmann::json const& j, char const* key,
                                       std::string const& where) {
  auto const it = j.find(key);
  DFROT_THROW_IF(it == j.end(), FormatError, where, ": field '", key, "' is missing");
  DFROT_THROW_IF(!it->is_string(), FormatError, where, ": field '", key, "' is ", it->type_name(),
                 ", expected a string");
  return it->get_ref<std::string const&>();
}

inline std::vector<std::string> strings_field(nlohmann::json const& j, char const* key,
                                              std::string const& where) {
  auto const it = j.find(key);
  DFROT_THROW_IF(it == j.end(), FormatError, where, ": field '", key, "' is missing");
  DFROT_THROW_IF(!it->is_array() || it->size() < 2, FormatError, where, ": field '", key,
                 "' must be an array of at least 2 strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    DFROT_THROW_IF(!(*it)[i].is_string(), FormatError, where, ": ", key, "[", i, "] is ",
                   (*it)[i].type_name(), ", expected a string");
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

inline std::size_t gold_field(nlohmann::json const& j, std::size_t n_choices, std::string const& where) {
  auto const it = j.find("gold");
  DFROT_THROW_IF(it == j.end(), FormatError, where, ": field 'gold' is missing");
  DFROT_THROW_IF(!it->is_number_integer(), FormatError, where, ": field 'gold' is ",
                 it->type_name(), ", expected an integer");
  auto const g = it->get<long long>();
  DFROT_THROW_IF(g < 0 || static_cast<unsigned long long>(g) >= n_choices, FormatError, where,
                 ": gold ", g, " is not one of the ", n_choices, " choices");
  return static_cast<std::size_t>(g);
}

}  // namespace detail

/// The document of one JSON line of `task` (lm-eval 0.4's doc_to_text / doc_to_choice):
/// PIQA `query + "Answer:"` (the file's query ends in "\n"), ARC `query + "\nAnswer:"`, each
/// choice scored as " " + choice; WinoGrande each filled context, then " " + the rest of the
/// sentence; LAMBADA the passage, then " " + its last word.
/// \throws FormatError naming `where` for a missing or ill-typed field or a gold out of range.
inline ZeroShotDoc make_zeroshot_doc(ZeroShotTask const& task, nlohmann::json const& j,
                                     std::string const& where) {
  DFROT_THROW_IF(!j.is_object(), FormatError, where, ": a ", j.type_name(),
                 ", expected a JSON object");
  ZeroShotDoc doc;
  switch (task.kind) {
    case TaskKind::kLambada: {
      doc.choices.push_back({detail::string_field(j, "context", where),
                             " " + detail::string_field(j, "continuation", where)});
      break;
    }
    case TaskKind::kMultipleChoice: {
      std::string const& query = detail::string_field(j, "query", where);
      std::string const context = query + (task.name == "piqa" ? "Answer:" : "\nAnswer:");
      for (std::string const& c : detail::strings_field(j, "choices", where)) {
        doc.choices.push_back({context, " " + c});
        doc.norm_length.push_back(static_cast<double>(count_code_points(c)));
      }
      break;
    }
    case TaskKind::kPartialContext: {
      std::string const& rest = detail::string_field(j, "continuation", where);
      for (std::string const& c : detail::strings_field(j, "context_options", where))
        doc.choices.push_back({c, " " + rest});
      break;
    }
  }
  if (task.kind != TaskKind::kLambada) doc.gold = detail::gold_field(j, doc.choices.size(), where);
  return doc;
}

/// The documents of `path` (JSONL: one object per line; blank lines skipped), at most `limit`
/// (0 = all), in file order — lm-eval's --limit takes the first ones too.
/// \throws IoError when the file cannot be read, FormatError naming the file and line of an
/// ill-formed line, and when the file holds no document.
inline std::vector<ZeroShotDoc> load_zeroshot_docs(ZeroShotTask const& task,
                                                   std::filesystem::path const& path,
                                                   std::size_t limit = 0) {
  std::string const text = io::read_file(path, str_cat("task ", task.name));
  std::vector<ZeroShotDoc> docs;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size() && (limit == 0 || docs.size() < limit);) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string const where = str_cat(task.name, " '", path.string(), "' line ", line_no);
    docs.push_back(make_zeroshot_doc(task, io::parse_json(line, where), where));
  }
  DFROT_THROW_IF(docs.empty(), FormatError, task.name, " '", path.string(), "': no documents");
  return docs;
}

}  // namespace dfrot::eval
