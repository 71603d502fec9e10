# Integration tests: the real pooler binary against a real PostgreSQL 15. The cluster is a CTest
# fixture started once per run; every integration/test_*.py is one test that starts its own
# pooler. Run them with `ctest -R integration` (they are order-free and safe under -j).

# Debian's python3-psycopg is installed for the system interpreter only.
set(POOLER_INTEGRATION_PYTHON /usr/bin/python3 CACHE FILEPATH
    "Python with psycopg 3 for the integration tests")
set(POOLER_INTEGRATION_TIMEOUT 300 CACHE STRING "Per-case timeout of the integration tests (s)")

set(_itest_dir ${CMAKE_CURRENT_LIST_DIR})
set(_itest_state ${CMAKE_BINARY_DIR}/integration/pg_state.json)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/integration)

add_test(NAME integration.pg_start
         COMMAND ${POOLER_INTEGRATION_PYTHON} ${_itest_dir}/pg_cluster.py start
                 --state ${_itest_state}
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/integration)
set_tests_properties(integration.pg_start PROPERTIES FIXTURES_SETUP pg TIMEOUT 180)

add_test(NAME integration.pg_stop
         COMMAND ${POOLER_INTEGRATION_PYTHON} ${_itest_dir}/pg_cluster.py stop
                 --state ${_itest_state}
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/integration)
set_tests_properties(integration.pg_stop PROPERTIES FIXTURES_CLEANUP pg TIMEOUT 120)

# The harness's watchdog prints every thread's stack and exits a little before CTest would kill
# the case silently.
math(EXPR _itest_watchdog "${POOLER_INTEGRATION_TIMEOUT} - 10")
set(_itest_env
    POOLER_BIN=$<TARGET_FILE:pooler>
    POOLER_PG_STATE=${_itest_state}
    POOLER_CASE_WATCHDOG=${_itest_watchdog}
    PYTHONDONTWRITEBYTECODE=1
    PYTHONUNBUFFERED=1)

file(GLOB _itest_cases CONFIGURE_DEPENDS ${_itest_dir}/test_*.py)
if(POOLER_SANITIZE)
  # Under ASan+UBSan the pooler is several times slower: run the cases that exercise the most
  # code paths (login, every mode, malformed input, cancel, limits, timeouts), not the load tests.
  set(_itest_cases)
  foreach(_name auth modes malformed cancel limits psycopg shutdown timeouts console
                console_drivers console_controls reload_signals metrics parity reboot tls
                tls_server auth_query hba users_databases prepared_statements startup_parameters
                replication client_limits shutdown_signals peering config_watch)
    list(APPEND _itest_cases ${_itest_dir}/test_${_name}.py)
  endforeach()
endif()
foreach(_case IN LISTS _itest_cases)
  get_filename_component(_name ${_case} NAME_WE)
  string(REGEX REPLACE "^test_" "" _name ${_name})
  add_test(NAME integration.${_name}
           COMMAND ${POOLER_INTEGRATION_PYTHON} ${_case}
           WORKING_DIRECTORY ${_itest_dir})
  set_tests_properties(integration.${_name} PROPERTIES
                       FIXTURES_REQUIRED pg
                       TIMEOUT ${POOLER_INTEGRATION_TIMEOUT}
                       LABELS integration
                       ENVIRONMENT "${_itest_env}")
endforeach()
