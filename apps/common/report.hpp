// SPDX-License-Identifier: Apache-2.0
// Report: results as an aligned text table or as JSON (--json), one shape for every subcommand.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dfrot::app {

/// Rows of named columns; print() writes a table to stdout, or the rows as a JSON array with the
/// header fields when json is set.
class Report {
 public:
  explicit Report(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  /// Metadata printed above the table / stored at the top level of the JSON object.
  void set(std::string const& key, nlohmann::json value) { meta_[key] = std::move(value); }
  void add_row(std::vector<nlohmann::json> cells);
  void print(bool json) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<nlohmann::json>> rows_;
  nlohmann::json meta_ = nlohmann::json::object();
};

}  // namespace dfrot::app
