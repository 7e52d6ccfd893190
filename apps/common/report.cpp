// SPDX-License-Identifier: Apache-2.0
#include "common/report.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "dfrot/core/error.hpp"

namespace dfrot::app {

namespace {
std::string cell_text(nlohmann::json const& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();
}
}  // namespace

void Report::add_row(std::vector<nlohmann::json> cells) {
  DFROT_THROW_IF(cells.size() != columns_.size(), Error, "report: row has ", cells.size(),
                 " cells but the table has ", columns_.size(), " columns");
  rows_.push_back(std::move(cells));
}

void Report::print(bool json) const {
  if (json) {
    nlohmann::json out = meta_;
    nlohmann::json rows = nlohmann::json::array();
    for (auto const& row : rows_) {
      nlohmann::json obj = nlohmann::json::object();
      for (std::size_t c = 0; c < columns_.size(); ++c) obj[columns_[c]] = row[c];
      rows.push_back(std::move(obj));
    }
    out["rows"] = std::move(rows);
    std::cout << out.dump(2) << '\n';
    return;
  }
  for (auto const& [key, value] : meta_.items()) std::cout << key << ": " << cell_text(value) << '\n';
  std::vector<std::size_t> width(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) width[c] = columns_[c].size();
  for (auto const& row : rows_) {
    for (std::size_t c = 0; c < columns_.size(); ++c)
      width[c] = std::max(width[c], cell_text(row[c]).size());
  }
  auto print_row = [&](auto const& cells) {
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      std::string const text = cell_text(nlohmann::json(cells[c]));
      std::cout << (c ? "  " : "") << text << std::string(width[c] - text.size(), ' ');
    }
    std::cout << '\n';
  };
  print_row(columns_);
  for (auto const& row : rows_) print_row(row);
}

}  // namespace dfrot::app
