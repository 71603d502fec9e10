# The systemd unit and sysusers file are checked offline with systemd-analyze / systemd-sysusers
# against the built binary (see scripts/verify-service.sh). Skipped (exit 77) only when the systemd
# tools are not installed.
add_test(NAME service.systemd_verify
         COMMAND ${CMAKE_SOURCE_DIR}/scripts/verify-service.sh $<TARGET_FILE:pooler>)
set_tests_properties(service.systemd_verify PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
