# The libFuzzer targets and their bounded runs (included by CMakeLists.txt when POOLER_FUZZ=ON).
# Each target is fuzz/<name>_fuzzer.cpp linked with the pooler libraries it feeds; CTest test
# fuzz.<name> fuzzes it for POOLER_FUZZ_SECONDS from a copy of its seeds (fuzz/run-fuzzer.sh).
set(POOLER_FUZZ_SECONDS 60 CACHE STRING "How long each fuzz.* test fuzzes, in seconds")

# Only the libraries a target links are built.
foreach(_module util protocol config net metrics backend pool frontend admin alerts app)
  set_target_properties(pooler_${_module} PROPERTIES EXCLUDE_FROM_ALL ON)
endforeach()

set(_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
math(EXPR _fuzz_timeout "${POOLER_FUZZ_SECONDS} + 120")

# pooler_fuzzer(NAME LIBRARIES... [SEEDS extra seed files or directories...])
function(pooler_fuzzer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SEEDS")
  add_executable(${name}_fuzzer ${_fuzz_dir}/${name}_fuzzer.cpp)
  target_link_libraries(${name}_fuzzer PRIVATE ${arg_UNPARSED_ARGUMENTS})
  target_link_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz.${name}
           COMMAND ${_fuzz_dir}/run-fuzzer.sh $<TARGET_FILE:${name}_fuzzer>
                   ${CMAKE_BINARY_DIR}/fuzz/${name} ${POOLER_FUZZ_SECONDS}
                   ${_fuzz_dir}/corpus/${name} ${arg_SEEDS})
  set_tests_properties(fuzz.${name} PROPERTIES TIMEOUT ${_fuzz_timeout} LABELS fuzz)
endfunction()

pooler_fuzzer(codec pooler_protocol)
pooler_fuzzer(prepared pooler_protocol)
pooler_fuzzer(startup_options pooler_protocol)
pooler_fuzzer(config pooler_config SEEDS ${CMAKE_SOURCE_DIR}/etc/pooler.ini)
pooler_fuzzer(auth_file pooler_config)
pooler_fuzzer(hba pooler_config)
pooler_fuzzer(auth_query pooler_backend)
pooler_fuzzer(console pooler_admin)
pooler_fuzzer(console_session pooler_admin)
# Its server certificate is made at start-up by the unit tests' certificate helper.
pooler_fuzzer(tls_server pooler_net)
target_sources(tls_server_fuzzer PRIVATE ${CMAKE_SOURCE_DIR}/tests/net/test_certificates.cpp)
