// write_bad_strings <logdir> refused|raw
//
// Drives tests/conformance/test_input_limits.py: strings that are not UTF-8 against the
// writer SDK (issue 14, item 4).
//   refused  through SummaryWriter: a good scalar "loss" at step 0, then a tag, a text and an
//            hparam value that are not UTF-8 (each refused at the call: "refused: <message>"
//            is printed), then "loss" at step 2 and a good text. Exit 0 when every bad call
//            was refused and every good one accepted, 1 otherwise.
//   raw      what the SDK used to let through, framed by hand past its checks: "loss" at 0
//            (EventWriter), then a simple_value under the tag "bad\xff" at step 1 and "loss"
//            at 2 (hand-encoded Events appended to the file). TensorBoard's loader is expected
//            to give up on the file at the bad record.
#include <c10/util/Exception.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "trainscope/event_writer.h"
#include "trainscope/record.h"
#include "trainscope/summary_writer.h"

namespace {

const std::string kBadTag = std::string("bad") + '\xff' + "/tag";  // 0xff never occurs in UTF-8

bool refused(const char* what, const std::function<void()>& call) {
  try {
    call();
  } catch (const c10::Error& e) {
    std::printf("refused: %s\n", e.what_without_backtrace());
    return true;
  } catch (const std::exception& e) {
    std::printf("refused: %s\n", e.what());
    return true;
  }
  std::printf("ACCEPTED: %s\n", what);
  return false;
}

// Event { wall_time: 1, step: <step>, summary { value { tag: <tag>, simple_value: <v> } } }
// in protobuf wire format, by hand (the SDK would refuse to encode it).
std::string event_bytes(int64_t step, const std::string& tag, float v) {
  auto length = [](std::string& out, size_t n) { out += static_cast<char>(n); };  // all < 128 here
  std::string value;
  value += '\x0a';  // Value.tag, field 1, length-delimited
  length(value, tag.size());
  value += tag;
  value += '\x15';  // Value.simple_value, field 2, fixed32
  char bits[8];
  std::memcpy(bits, &v, 4);
  value.append(bits, 4);
  std::string summary;
  summary += '\x0a';  // Summary.value, field 1
  length(summary, value.size());
  summary += value;
  std::string event;
  event += '\x09';  // Event.wall_time, field 1, fixed64
  const double wall = 1.0;
  std::memcpy(bits, &wall, 8);
  event.append(bits, 8);
  event += '\x10';  // Event.step, field 2, varint (small)
  event += static_cast<char>(step);
  event += '\x2a';  // Event.summary, field 5
  length(event, summary.size());
  return event + summary;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_bad_strings <logdir> refused|raw\n");
    return 2;
  }
  const std::string logdir = argv[1], mode = argv[2];
  if (mode == "raw") {
    std::string path;
    {
      trainscope::EventWriter w(logdir);
      w.add_scalar("loss", 1.f, 0);
      if (!w.close().ok) return 1;
      path = w.file_path();
    }
    std::string tail;
    trainscope::append_record(tail, event_bytes(1, kBadTag, 2.f));
    trainscope::append_record(tail, event_bytes(2, "loss", 3.f));
    std::ofstream(path, std::ios::binary | std::ios::app) << tail;
    return 0;
  }
  if (mode != "refused") return 2;
  trainscope::SummaryWriter w(logdir);
  bool ok = true;
  w.add_scalar("loss", 1.0, 0);
  ok &= refused("bad tag", [&] { w.add_scalar(kBadTag, 2.0, 1); });
  ok &= refused("bad text", [&] { w.add_text("note", std::string("caf") + '\xc3', 1); });  // cut in a sequence
  ok &= refused("bad hparam", [&] { w.add_hparams({{"optimizer", std::string("ad\xc0\x80m")}}, {{"m", 1.0}}); });
  w.add_scalar("loss", 3.0, 2);
  w.add_text("note", "caf\xc3\xa9", 2);  // "café": valid UTF-8
  if (!w.close().ok) ok = false;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
