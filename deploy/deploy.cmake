# Operator-facing files in deploy/, checked offline:
# - deploy.promtool_rules: the Prometheus alerting rules pass `promtool check rules` and their unit
#   tests (`promtool test rules`), see deploy/check-rules.sh;
# - deploy.grafana_dashboard: the Grafana dashboard is importable JSON and queries only metrics
#   pooler serves (deploy/check-dashboard.py), its queries parsed by promtool when installed.
# Skipped (exit 77) only when promtool is not installed (Debian package prometheus, make deps).
add_test(NAME deploy.promtool_rules COMMAND ${CMAKE_SOURCE_DIR}/deploy/check-rules.sh)
set_tests_properties(deploy.promtool_rules PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)

find_program(POOLER_PROMTOOL promtool)
if(POOLER_PROMTOOL)
  set(pooler_dashboard_promtool --promtool ${POOLER_PROMTOOL})
else()
  set(pooler_dashboard_promtool)
endif()
add_test(NAME deploy.grafana_dashboard
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/deploy/check-dashboard.py
                 ${CMAKE_SOURCE_DIR}/deploy/grafana/pooler-dashboard.json ${pooler_dashboard_promtool})
set_tests_properties(deploy.grafana_dashboard PROPERTIES TIMEOUT 60)

# - deploy.kubernetes: the manifests of deploy/kubernetes/ render with `kubectl kustomize`, every
#   object validates against the Kubernetes API schemas, the PrometheusRule carries the promtool-
#   tested rules, and each pooler.ini passes `pooler --check` (deploy/kubernetes/check.sh).
add_test(NAME deploy.kubernetes
         COMMAND ${CMAKE_SOURCE_DIR}/deploy/kubernetes/check.sh $<TARGET_FILE:pooler>
                 ${CMAKE_BINARY_DIR}/k8s-validate)
set_tests_properties(deploy.kubernetes PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
