# Finds libtorch. Order: an explicit Torch_DIR / CMAKE_PREFIX_PATH, else the torch wheel of
# the project venv (.venv), else whatever python3 is on PATH.
if(NOT Torch_DIR)
  find_program(TRAINSCOPE_PYTHON NAMES python3 python
               HINTS "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin" NO_DEFAULT_PATH)
  if(NOT TRAINSCOPE_PYTHON)
    find_program(TRAINSCOPE_PYTHON NAMES python3 python)
  endif()
  if(TRAINSCOPE_PYTHON)
    execute_process(COMMAND "${TRAINSCOPE_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _ts_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _ts_rc ERROR_QUIET)
    if(_ts_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_ts_torch_prefix}")
    endif()
  endif()
endif()
# We compile no CUDA ourselves; name the common architectures so Torch's CMake stays quiet.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0" CACHE STRING "")
endif()
find_package(Torch REQUIRED)
if(NOT TORCH_FOUND)
  message(FATAL_ERROR "libtorch not found: run scripts/setup.sh (creates .venv with torch==2.11.0) or pass -DTorch_DIR=")
endif()
# Torch's imported target carries no compile flags we need beyond its include dirs and ABI define.
# libtorch's directory, for the install rpath of our libraries (the wheel's lib/ is not on
# the system search path).
get_filename_component(TRAINSCOPE_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
