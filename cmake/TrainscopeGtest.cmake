# trainscope_register_gtest(<program> <label> <environment>): how CTest sees a GoogleTest program.
#
# Torch-free programs get one CTest entry per test (gtest_discover_tests): they start in
# milliseconds, and the sanitizer jobs select them by name and label. A program that links
# libtorch spends ~0.4 s of every start loading it, which over ~430 tests was a third of the
# suite's time on a 2-core machine; so it is one CTest entry, <label>/<program>, that runs all
# of its tests in one process (its output names every failed test; run one with
# `build/tests/<program> --gtest_filter=Suite.Name`). -DTRAINSCOPE_CTEST_PER_TEST=ON registers
# every program test by test again.
include_guard(GLOBAL)
include(GoogleTest)
option(TRAINSCOPE_CTEST_PER_TEST "one CTest entry per GoogleTest test, also for the programs that load libtorch" OFF)

function(trainscope_register_gtest program label environment)
  if(label STREQUAL "torchfree" OR TRAINSCOPE_CTEST_PER_TEST)
    # (One value per property: gtest_discover_tests splits a ';' into separate arguments.)
    gtest_discover_tests(${program} DISCOVERY_MODE PRE_TEST
                         PROPERTIES ENVIRONMENT "${environment}" LABELS ${label})
  else()
    add_test(NAME ${label}/${program} COMMAND ${program} --gtest_color=no)
    set_tests_properties(${label}/${program} PROPERTIES ENVIRONMENT "${environment}" LABELS ${label}
                                                        TIMEOUT 900 COST 5)
  endif()
endfunction()
