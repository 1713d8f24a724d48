// Helpers shared by the unit tests: fresh temporary directories and reading event files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "trainscope/event_reader.h"

namespace trainscope::testing {

// A new empty directory under TRAINSCOPE_TEST_TMP (or the system temp dir), named after
// the running test.
inline std::string fresh_dir(const std::string& hint = "") {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TRAINSCOPE_TEST_TMP");
  std::filesystem::path root = base ? base : std::filesystem::temp_directory_path() / "trainscope-tests";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  std::filesystem::path dir = root / (name + hint + "." + std::to_string(getpid()) + "." + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// All events of all event files in `dir`, in file order; fails the test on corruption.
inline std::vector<EventView> read_events(const std::string& dir) {
  std::vector<EventView> out;
  for (const auto& path : list_event_files(dir)) {
    RecordReader reader(path);
    std::string payload;
    while (reader.next(payload)) {
      EventView ev;
      std::string err;
      EXPECT_TRUE(decode_event(payload, ev, &err)) << err;
      out.push_back(std::move(ev));
    }
    EXPECT_FALSE(reader.error().has_value()) << reader.error()->message;
  }
  return out;
}

}  // namespace trainscope::testing
