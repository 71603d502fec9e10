// Session parameter tracking: names compare as PostgreSQL compares GUC names (case-insensitively)
// and re-sync SQL quotes every value so no client value can break out of its literal.
#include "pooler/backend/parameter_set.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using pooler::backend::canonical_parameter;
using pooler::backend::ParameterSet;
using pooler::backend::sync_statements;
using pooler::backend::tracked_parameters;

TEST_CASE("a parameter set finds values whatever the case of the name") {
  ParameterSet set;
  set.set("DateStyle", "ISO, MDY");
  REQUIRE(set.get("datestyle").has_value());
  CHECK(*set.get("datestyle") == "ISO, MDY");
  REQUIRE(set.get("DATESTYLE").has_value());
  CHECK(*set.get("DATESTYLE") == "ISO, MDY");
  CHECK_FALSE(set.get("TimeZone").has_value());
}

TEST_CASE("setting a parameter reports whether its value changed") {
  ParameterSet set;
  CHECK(set.set("TimeZone", "UTC"));
  CHECK_FALSE(set.set("TimeZone", "UTC"));
  CHECK_FALSE(set.set("timezone", "UTC"));
  CHECK(set.set("TIMEZONE", "Europe/Paris"));
  CHECK(*set.get("TimeZone") == "Europe/Paris");
  // Values compare exactly: a change of case in the value is a change.
  CHECK(set.set("TimeZone", "europe/paris"));
}

TEST_CASE("setting a known name in another case updates the one entry") {
  ParameterSet set;
  set.set("client_encoding", "UTF8");
  set.set("CLIENT_ENCODING", "LATIN1");
  REQUIRE(set.size() == 1);
  CHECK(set.begin()->second == "LATIN1");
}

TEST_CASE("a value changed in the middle keeps the entries around it and their order") {
  ParameterSet set;
  set.set("client_encoding", "UTF8");
  set.set("TimeZone", "UTC");
  set.set("DateStyle", "ISO, MDY");
  CHECK(set.set("timezone", "America/Argentina/Buenos_Aires"));
  std::vector<std::string> seen;
  for (const auto& [name, value] : set) {
    seen.push_back(std::string(name) + "=" + std::string(value));
  }
  CHECK(seen == std::vector<std::string>{"client_encoding=UTF8",
                                         "TimeZone=America/Argentina/Buenos_Aires",
                                         "DateStyle=ISO, MDY"});
  CHECK(set.set("TimeZone", ""));
  CHECK(*set.get("DateStyle") == "ISO, MDY");
  CHECK(set.get("timezone")->empty());
  CHECK(set.size() == 3);
}

TEST_CASE("an empty value is a value, distinct from no value") {
  ParameterSet set;
  CHECK(set.set("application_name", ""));
  REQUIRE(set.get("application_name").has_value());
  CHECK(set.get("application_name")->empty());
  CHECK_FALSE(set.set("application_name", ""));
}

TEST_CASE("tracked parameters are every changeable reported one, in PostgreSQL's spelling") {
  auto tracked = tracked_parameters({});
  CHECK(tracked == std::vector<std::string>{"client_encoding", "DateStyle", "TimeZone",
                                            "standard_conforming_strings", "application_name",
                                            "IntervalStyle", "default_transaction_read_only"});
}

TEST_CASE("tracked parameters add configured extras once, without repeating the defaults") {
  auto tracked =
      tracked_parameters({"search_path", "datestyle", "search_path", "IntervalStyle", "TIMEZONE"});
  CHECK(tracked.size() == 8);
  CHECK(std::count(tracked.begin(), tracked.end(), "search_path") == 1);
  CHECK(std::count(tracked.begin(), tracked.end(), "IntervalStyle") == 1);
  CHECK(std::count(tracked.begin(), tracked.end(), "DateStyle") == 1);
  CHECK(std::count(tracked.begin(), tracked.end(), "datestyle") == 0);
  CHECK(std::count(tracked.begin(), tracked.end(), "TIMEZONE") == 0);
}

TEST_CASE("canonical_parameter gives the tracked spelling or nothing") {
  auto tracked = tracked_parameters({"search_path"});
  CHECK(canonical_parameter("datestyle", tracked) == "DateStyle");
  CHECK(canonical_parameter("TIMEZONE", tracked) == "TimeZone");
  CHECK(canonical_parameter("Search_Path", tracked) == "search_path");
  CHECK(canonical_parameter("work_mem", tracked).empty());
  CHECK(canonical_parameter("", tracked).empty());
}

TEST_CASE("sync_statements is empty when the server is in step with the client") {
  auto tracked = tracked_parameters({});
  ParameterSet client;
  ParameterSet server;
  client.set("client_encoding", "UTF8");
  client.set("DateStyle", "ISO, MDY");
  server.set("DATESTYLE", "ISO, MDY");
  server.set("client_encoding", "UTF8");
  server.set("TimeZone", "UTC");  // the client has no TimeZone: nothing to bring in step
  CHECK(sync_statements(client, server, tracked).empty());
}

TEST_CASE("sync_statements sets each differing or missing value as an E-quoted literal") {
  auto tracked = tracked_parameters({});
  ParameterSet client;
  ParameterSet server;
  client.set("datestyle", "ISO, DMY");
  client.set("application_name", "it's \\ mine");
  client.set("client_encoding", "UTF8");
  server.set("DateStyle", "ISO, MDY");
  server.set("client_encoding", "UTF8");
  CHECK(sync_statements(client, server, tracked) ==
        "SET DateStyle = E'ISO, DMY';SET application_name = E'it''s \\\\ mine';");
}

TEST_CASE("sync_statements skips tracked names the client has no value for") {
  auto tracked = tracked_parameters({"search_path"});
  ParameterSet client;
  ParameterSet server;
  server.set("search_path", "public");
  server.set("TimeZone", "UTC");
  CHECK(sync_statements(client, server, tracked).empty());
  client.set("search_path", "app, public");
  CHECK(sync_statements(client, server, tracked) == "SET search_path = E'app, public';");
}

TEST_CASE("sync_statements ignores client values for names that are not tracked") {
  auto tracked = tracked_parameters({});
  ParameterSet client;
  ParameterSet server;
  client.set("work_mem", "64MB");
  CHECK(sync_statements(client, server, tracked).empty());
}

TEST_CASE("interned parameter sets share one buffer and a change to one leaves the other alone") {
  pooler::backend::ParameterInterner interner;
  ParameterSet first;
  first.set("client_encoding", "UTF8");
  first.set("TimeZone", "UTC");
  ParameterSet second;
  second.set("client_encoding", "UTF8");
  second.set("TimeZone", "UTC");
  interner.share(first);
  interner.share(second);
  CHECK(first.begin()->first.data() == second.begin()->first.data());
  CHECK(second.set("TimeZone", "Europe/Paris"));
  CHECK(*first.get("TimeZone") == "UTC");
  CHECK(*second.get("TimeZone") == "Europe/Paris");
  ParameterSet copy = first;
  CHECK(copy.set("client_encoding", "LATIN1"));
  CHECK(*first.get("client_encoding") == "UTF8");
  first.clear();
  CHECK(first.empty());
  CHECK(*copy.get("TimeZone") == "UTC");
}

TEST_CASE("a sync memo skips the comparison only while neither set has changed") {
  auto tracked = tracked_parameters({});
  pooler::backend::SyncMemo memo;
  ParameterSet client;
  client.set("TimeZone", "UTC");
  ParameterSet server;
  server.set("TimeZone", "UTC");
  server.set("server_version", "15.8");
  CHECK(sync_statements(client, server, tracked, &memo).empty());
  CHECK(memo.in_step(client, server));
  // The client changes its value: the memo no longer applies and the SET comes back.
  client.set("TimeZone", "Europe/Paris");
  CHECK_FALSE(memo.in_step(client, server));
  CHECK(sync_statements(client, server, tracked, &memo) == "SET TimeZone = E'Europe/Paris';");
  // The server catches up (its ParameterStatus): in step again, and remembered again.
  server.set("TimeZone", "Europe/Paris");
  CHECK(sync_statements(client, server, tracked, &memo).empty());
  CHECK(memo.in_step(client, server));
  // The server alone changes: compared again.
  server.set("timezone", "UTC");
  CHECK_FALSE(memo.in_step(client, server));
  CHECK_FALSE(sync_statements(client, server, tracked, &memo).empty());
}
