// Torch-free readers for the dataset file formats (IDX, gzipped or raw; CIFAR-10 binary).
// data_sets.cpp turns what they return into tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainscope::detail {

// One IDX array: dimensions and the raw unsigned-byte payload (row-major).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file of unsigned bytes (type 0x08); gzip is detected and inflated with zlib.
// Throws DatasetError naming the file and what is wrong.
IdxArray read_idx_file(const std::string& path);

// CIFAR-10 binary records (1 label byte + 3072 pixel bytes, CHW) from `files`, appended.
struct CifarRecords {
  std::vector<uint8_t> labels;
  std::vector<uint8_t> pixels;  // labels.size() * 3072
};
CifarRecords read_cifar_files(const std::vector<std::string>& files);

// `path`, or `path` + ".gz", whichever exists; `path` when neither does.
std::string existing_variant(const std::string& path);

}  // namespace trainscope::detail
