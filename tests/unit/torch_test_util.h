// Helpers for tests that use libtorch: checking the text of the errors the SDK throws.
#pragma once

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace trainscope::testing {

// Runs `fn` and expects a c10::ValueError whose text contains every needle.
template <typename Fn>
void expect_value_error(Fn fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected c10::ValueError";
  } catch (const c10::ValueError& e) {
    const std::string msg = e.what_without_backtrace();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

}  // namespace trainscope::testing
